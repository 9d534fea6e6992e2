"""The spec of a classifier reward: ``clf:PATH_OR_NAME[OPTIONS]``.

The options are ``label=``, ``transform=`` and ``text=`` of
:class:`~textgym.rewards.ClassifierReward` (:func:`parse_classifier_spec`); in a weighted
sum (:mod:`textgym.rewards.spec`) the weight follows the options::

    clf:unitary/toxic-bert[label=toxic,transform=not_prob]
    rougeL:0.8,clf:runs/sentiment[label=pos]:0.2
"""

from __future__ import annotations

from textgym.errors import ConfigError, did_you_mean

CLF_PREFIX = "clf:"
TRANSFORMS = ("prob", "not_prob", "logprob", "logit")
TEXTS = ("response", "prompt+response")
OPTIONS = ("label", "transform", "text")
EXAMPLE = "clf:unitary/toxic-bert[label=toxic,transform=not_prob]"


def parse_classifier_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split ``clf:MODEL[key=value,...]`` into the model and its options.

    ``"clf:org/tox[label=toxic,transform=not_prob]"`` ->
    ``("org/tox", {"label": "toxic", "transform": "not_prob"})``. The options are the
    trailing ``[...]``; a model path that itself ends in ``]`` takes an empty ``[]``.

    Raises:
        ConfigError: no model, an unclosed ``[``, an option that is not ``key=value``, an
            unknown or repeated key, an empty value, or a bad transform or text.
    """
    body = spec[len(CLF_PREFIX) :] if spec.startswith(CLF_PREFIX) else spec
    model, options = body.strip(), ""
    if model.endswith("]") and "[" in model:
        cut = model.rindex("[")
        model, options = model[:cut].strip(), model[cut + 1 : -1]
    elif "[" in model:
        raise _spec_error(spec, "opens '[' but does not end with ']'")
    if not model:
        raise _spec_error(spec, "names no model")
    settings = _options(options, spec)
    for key, allowed in (("transform", TRANSFORMS), ("text", TEXTS)):
        if settings.get(key, allowed[0]) not in allowed:
            raise _spec_error(spec, f"has {key}={settings[key]}, not one of {'|'.join(allowed)}")
    return model, settings


def _options(text: str, spec: str) -> dict[str, str]:
    settings: dict[str, str] = {}
    for item in filter(str.strip, text.split(",")):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not value:
            raise _spec_error(spec, f"has the option {item.strip()!r}, not KEY=VALUE")
        if key not in OPTIONS:
            hint = did_you_mean(key, OPTIONS)
            raise _spec_error(spec, f"has an unknown option {key!r}.{hint} Options: {OPTIONS}")
        if key in settings:
            raise _spec_error(spec, f"gives {key!r} twice")
        settings[key] = value
    return settings


def _spec_error(spec: str, problem: str) -> ConfigError:
    return ConfigError(
        f"Classifier spec {spec!r} {problem}. Write {CLF_PREFIX}PATH_OR_NAME[OPTIONS] with "
        f"options label=NAME_OR_INDEX, transform={'|'.join(TRANSFORMS)}, "
        f"text={'|'.join(TEXTS)}, e.g. '{EXAMPLE}' (in a weighted sum: "
        f"'rougeL:0.8,{EXAMPLE}:0.2')."
    )
