"""The specs of model rewards: ``clf:PATH_OR_NAME[OPTIONS]`` and ``rm:PATH_OR_NAME[OPTIONS]``.

A classifier's options are ``label=``, ``transform=``, ``text=`` and ``device=`` of
:class:`~textgym.rewards.ClassifierReward` (:func:`parse_classifier_spec`); a reward model's
are ``device=`` (a reward model can run on another device than the policy) and
``length_penalty=`` (``fit``: subtract the length term ``train-rm`` fitted, or a score per
word) of :class:`~textgym.rewards.RewardModel` (:func:`parse_rm_spec`). In a weighted sum
(:mod:`textgym.rewards.spec`) the weight follows the options::

    clf:unitary/toxic-bert[label=toxic,transform=not_prob,device=cuda:1]
    rougeL:0.8,clf:runs/sentiment[label=pos]:0.2
    rm:runs/rm[device=cuda:1]
    rm:runs/rm[length_penalty=fit]
"""

from __future__ import annotations

from collections.abc import Callable

from textgym.errors import ConfigError, did_you_mean

CLF_PREFIX = "clf:"
TRANSFORMS = ("prob", "not_prob", "logprob", "logit")
TEXTS = ("response", "prompt+response")
OPTIONS = ("label", "transform", "text", "device")
EXAMPLE = "clf:unitary/toxic-bert[label=toxic,transform=not_prob]"
RM_PREFIX = "rm:"
RM_OPTIONS = ("device", "length_penalty")
RM_EXAMPLE = "rm:runs/rm[device=cuda:1]"


def parse_classifier_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split ``clf:MODEL[key=value,...]`` into the model and its options.

    ``"clf:org/tox[label=toxic,transform=not_prob]"`` ->
    ``("org/tox", {"label": "toxic", "transform": "not_prob"})``. The options are the
    trailing ``[...]``; a model path that itself ends in ``]`` takes an empty ``[]``.

    Raises:
        ConfigError: no model, an unclosed ``[``, an option that is not ``key=value``, an
            unknown or repeated key, an empty value, or a bad transform or text.
    """
    model, options = split_options(spec, CLF_PREFIX, _spec_error)
    settings = _options(options, spec, OPTIONS, _spec_error)
    for key, allowed in (("transform", TRANSFORMS), ("text", TEXTS)):
        if settings.get(key, allowed[0]) not in allowed:
            raise _spec_error(spec, f"has {key}={settings[key]}, not one of {'|'.join(allowed)}")
    return model, settings


def parse_rm_spec(spec: str) -> tuple[str, dict[str, str | float]]:
    """Split ``rm:MODEL[device=...,length_penalty=...]`` into the model and its options.

    ``length_penalty`` is ``fit`` or a number (returned as a float); see the module doc.

    Raises:
        ConfigError: no model, an unclosed ``[``, an option other than ``device=VALUE`` and
            ``length_penalty=fit|NUMBER``.
    """
    model, options = split_options(spec, RM_PREFIX, _rm_error)
    settings: dict[str, str | float] = dict(_options(options, spec, RM_OPTIONS, _rm_error))
    penalty = settings.get("length_penalty", "fit")
    if penalty != "fit":
        try:
            settings["length_penalty"] = float(penalty)
        except ValueError:
            raise _rm_error(spec, f"has length_penalty={penalty}, not 'fit' or a number") from None
    return model, settings


def split_options(
    spec: str, prefix: str, error: Callable[[str, str], ConfigError]
) -> tuple[str, str]:
    """``PREFIX MODEL[OPTIONS]`` -> ``(MODEL, OPTIONS)``; a model ending in ``]`` takes ``[]``."""
    body = spec[len(prefix) :] if spec.startswith(prefix) else spec
    model, options = body.strip(), ""
    if model.endswith("]") and "[" in model:
        cut = model.rindex("[")
        model, options = model[:cut].strip(), model[cut + 1 : -1]
    elif "[" in model:
        raise error(spec, "opens '[' but does not end with ']'")
    if not model:
        raise error(spec, "names no model")
    return model, options


def _options(
    text: str, spec: str, allowed: tuple[str, ...], error: Callable[[str, str], ConfigError]
) -> dict[str, str]:
    settings: dict[str, str] = {}
    for item in filter(str.strip, text.split(",")):
        key, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not value:
            raise error(spec, f"has the option {item.strip()!r}, not KEY=VALUE")
        if key not in allowed:
            hint = did_you_mean(key, allowed)
            raise error(spec, f"has an unknown option {key!r}.{hint} Options: {allowed}")
        if key in settings:
            raise error(spec, f"gives {key!r} twice")
        settings[key] = value
    return settings


def _spec_error(spec: str, problem: str) -> ConfigError:
    return ConfigError(
        f"Classifier spec {spec!r} {problem}. Write {CLF_PREFIX}PATH_OR_NAME[OPTIONS] with "
        f"options label=NAME_OR_INDEX, transform={'|'.join(TRANSFORMS)}, "
        f"text={'|'.join(TEXTS)}, device=DEVICE, e.g. '{EXAMPLE}' (in a weighted sum: "
        f"'rougeL:0.8,{EXAMPLE}:0.2')."
    )


def _rm_error(spec: str, problem: str) -> ConfigError:
    return ConfigError(
        f"Reward-model spec {spec!r} {problem}. Write {RM_PREFIX}PATH_OR_NAME, optionally with "
        f"[device=DEVICE,length_penalty=fit|NUMBER], e.g. '{RM_EXAMPLE}' (in a weighted sum: "
        f"'rougeL:0.5,{RM_EXAMPLE}:0.5')."
    )
