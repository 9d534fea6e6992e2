"""The options of every :class:`TrainConfig` field, and ``--config FILE``, for train and compare.

:data:`OPTIONS` is the one table of the training options: field -> help text, plus where
needed a parser, metavar, group, flag or default. Everything else comes from the dataclass:
the flag (:func:`textgym.training.checks.flag`, the name the errors use), the type (``int``,
``float``, ``str``, ``X | None``, ``dict`` -> a JSON object, ``bool`` -> ``--x/--no-x``) and
the default. A field missing from the table still gets an option (``tests/test_cli_options.py``
fails until it has help text), so ``textgym train`` (:func:`add_train_options`) and
``textgym compare`` (the same, less the fields it sets per run) cannot drift apart.

``--config FILE`` (:func:`add_config_option`) reads a YAML file (JSON for ``.json``) whose keys
are option dests (``n_envs``, ``env_id``, ``rewards``, ...): each value is turned into the
command-line text of its option and parsed as such, the results become the defaults, and flags
on the command line override them.

Why argparse and not tyro or jsonargparse: ``textgym`` is an argparse CLI whose subcommands
import their options only when used; these options need textgym's own parsers (reward specs,
JSON objects), flag names (``--env``, used in every error message) and help texts, which tyro
would rename (``--env-id``) and reformat. The help table is needed either way; the rest here is
about 150 lines of stdlib code instead of a new dependency of every install.
"""

from __future__ import annotations

import argparse
import json
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, NoReturn, Union, get_args, get_origin, get_type_hints

from textgym.commands.policy_flags import add_policy_flags, with_policy_flags
from textgym.errors import ConfigError, did_you_mean
from textgym.evaluation.settings import SELECTION_METRICS
from textgym.rewards.spec import check_model_folders, parse_reward_spec
from textgym.training import TrainConfig
from textgym.training.checks import flag

EVAL_GROUP = "held-out evaluation"
FIELD_DEFAULT: Any = object()  # an Option's default: the TrainConfig field's


def parse_reward(text: str) -> str:
    """Check a reward spec (see :mod:`textgym.rewards.spec`) and return it as given."""
    try:
        parse_reward_spec(text)
        check_model_folders(text)
    except ConfigError as exc:  # argparse shows only an ArgumentTypeError's own message
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text


def nonempty(text: str) -> str:
    """A text option's value: an empty or blank one is a usage error, not a default."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty; give a value or leave the option out")
    return text


def json_object(text: str) -> dict:
    """``'{"a": 1}'`` -> ``{"a": 1}``; anything but a JSON object is a usage error."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not JSON ({exc.msg})") from exc
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"{text!r} must be a JSON object, e.g. '{{\"k\": 1}}'")
    return value


@dataclass(frozen=True)
class Option:
    """How a :class:`TrainConfig` field appears on the command line (beyond its type)."""

    help: str
    parse: Callable[[str], Any] | None = None  # default: from the field's type
    metavar: str | None = None
    group: str | None = None  # an argument group's title
    flag: str | None = None  # default: checks.flag(field), the flag its errors name
    default: Any = FIELD_DEFAULT


def kwargs_help(target: str, example: str) -> str:
    """The help of a ``*_kwargs`` option passed on to ``target``, with an ``example``."""
    return f"more keyword arguments for {target}, as a JSON object, e.g. '{example}'"


# TrainConfig field -> its option; the one place for the help texts of train and compare
OPTIONS: dict[str, Option] = {
    "env_id": Option("registered env id"),
    "reward": Option(
        "a reward: NAME, evaluate:PATH_OR_NAME, rm:PATH_OR_NAME, or a weighted sum with a "
        "weight on every part, e.g. rougeL:0.7,chrf:0.3 or rm:runs/rm:0.5,rougeL:0.5 "
        "(default: the env's)",
        parse=parse_reward,
    ),
    "model": Option("embedded name, HF name or path"),
    "timesteps": Option("total env steps (tokens)"),
    "n_envs": Option("envs stepped in parallel"),
    "n_steps": Option("steps per env per rollout"),
    "batch_size": Option("transitions per PPO minibatch"),
    "n_epochs": Option("passes of PPO over each rollout"),
    "learning_rate": Option("PPO's learning rate"),
    "gamma": Option("discount (1.0: no bias toward short texts)"),
    "max_prompt_tokens": Option("longest prompt in tokens (default: the env's)"),
    "max_new_tokens": Option("longest generation in tokens (default: the env's)"),
    "dataset": Option("JSONL/CSV path or HF dataset name (default: shipped data)"),
    "eval_dataset": Option(
        "held-out JSONL/CSV path or HF dataset name, with the fields the task needs "
        "(default: the --eval-split of --dataset)",
        group=EVAL_GROUP,
    ),
    "eval_split": Option("split of a hub/shipped dataset", group=EVAL_GROUP),
    "eval_examples": Option("held-out examples evaluated", group=EVAL_GROUP),
    "eval_samples": Option(
        "also sample N outputs per prompt: report their mean and best-of-N (0: greedy only)",
        group=EVAL_GROUP,
    ),
    "eval_every": Option("evaluate every N timesteps during training", group=EVAL_GROUP),
    "eval_metric": Option(
        f"metric of the best checkpoint and early stopping: {', '.join(SELECTION_METRICS)}",
        group=EVAL_GROUP,
    ),
    "patience": Option("stop after N evaluations without a new best", group=EVAL_GROUP),
    "kl_budget": Option(
        "stop once the KL to the initial model exceeds this (nats per token)", group=EVAL_GROUP
    ),
    "stop_on_dead_signal": Option(
        "stop after N rollouts in a row without a gradient signal (every advantage 0, or "
        "every group's rewards equal); unset: warn once"
    ),
    "temperature": Option("sampling temperature of the rollouts and --eval-samples"),
    "top_k": Option("sample among the k most likely tokens (0: all)"),
    "top_p": Option("sample among the most likely tokens holding this probability (1.0: all)"),
    "kl_coef": Option(
        "β of the per-token KL-to-reference penalty (unset or 0: off; "
        "unset with --target-kl: starts at 0.1)"
    ),
    "target_kl": Option("target KL per episode (nats): makes β adaptive"),
    "kl_horizon": Option("episodes over which the adaptive β responds (Ziegler et al.: 10000)"),
    "kl_reference_device": Option(
        "device of the KL penalty's reference model, e.g. cuda:1 or cpu (default: the policy's)"
    ),
    "group_size": Option("samples per prompt: envs in blocks of k sharing each episode's example"),
    "advantage": Option(
        "gae (value head), or a group baseline without value head: rloo, grpo, group_mean"
    ),
    "seed": Option("PPO's seed; env i gets seed + i"),
    "device": Option("auto, cpu, cuda or cuda:N"),
    "out": Option(  # None: textgym train picks runs/textgym, or the --resume folder
        f"output folder (default: {TrainConfig.out}; with --resume: DIR)", default=None
    ),
    "checkpoint_every": Option(
        "save a checkpoint to OUT/checkpoints/latest every N timesteps, at rollout "
        "boundaries, and after the last update (default: every 4 rollouts; 0: none)",
        metavar="N",
    ),
    "env_kwargs": Option(kwargs_help("gym.make", '{"reward_mode": "dense"}')),
    "ppo_kwargs": Option(kwargs_help("stable-baselines3's PPO", '{"ent_coef": 0.01}')),
    "policy_kwargs": Option(kwargs_help("LMPolicy", '{"gradient_checkpointing": true}')),
}


def field_type(name: str) -> Any:
    """The type of field ``name`` without ``| None`` (``int | None`` -> ``int``)."""
    kind = get_type_hints(TrainConfig)[name]
    if get_origin(kind) in (Union, types.UnionType):
        kinds = [k for k in get_args(kind) if k is not type(None)]
        kind = kinds[0] if len(kinds) == 1 else Any
    return get_origin(kind) or kind


def option_kwargs(name: str, default: Any) -> dict[str, Any]:
    """``add_argument`` keywords of field ``name``: dest, type or action, help, default."""
    option = OPTIONS.get(name, Option(""))
    kind = field_type(name)
    kwargs: dict[str, Any] = {"dest": name, "help": option.help or None}
    kwargs["default"] = default if option.default is FIELD_DEFAULT else option.default
    if kind is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    elif option.parse or kind in (int, float, dict, str):
        kwargs["type"] = option.parse or {dict: json_object, str: nonempty}.get(kind, kind)
    if option.metavar:
        kwargs["metavar"] = option.metavar
    return kwargs


def add_train_options(
    p: argparse.ArgumentParser, exclude: Sequence[str] = (), title: str | None = None
) -> None:
    """Add an option for every :class:`TrainConfig` field but ``exclude`` to ``p``.

    Args:
        p: The parser.
        exclude: Fields without an option (e.g. those ``textgym compare`` sets per run).
        title: The argument group of the fields the table puts in none (None: ``p`` itself).
    """
    groups: dict[str | None, Any] = {None: p}
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        if f.name in exclude:
            continue
        option = OPTIONS.get(f.name, Option(""))
        group = option.group or title
        if group not in groups:
            groups[group] = p.add_argument_group(group)
        kwargs = option_kwargs(f.name, getattr(defaults, f.name))
        groups[group].add_argument(option.flag or flag(f.name), **kwargs)
    if "policy_kwargs" not in exclude:
        add_policy_flags(p)


def train_values(args: argparse.Namespace, exclude: Sequence[str] = ()) -> dict[str, Any]:
    """The :class:`TrainConfig` fields but ``exclude``, as parsed into ``args``.

    The policy flags (``--bf16``, ``--lora-r``, ...) go into ``policy_kwargs``.
    """
    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if f.name not in exclude}
    if "policy_kwargs" in values:
        values["policy_kwargs"] = with_policy_flags(args, values["policy_kwargs"])
    return values


class RepeatedOption(argparse.Action):
    """A repeatable option: its uses collected in a list (``extend=True``: their items).

    Unlike argparse's ``append``, a default (e.g. from ``--config``) is replaced, not added to.
    """

    def __init__(self, *args: Any, extend: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.extend = extend

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        """Add ``values`` to the list of this parse (a new one on the first use)."""
        current = getattr(namespace, self.dest, None)
        items = [] if current is None or current is self.default else list(current)
        if self.extend:
            items.extend(values)
        else:
            items.append(values)
        setattr(namespace, self.dest, items)


class ConfigFileParser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` whose ``--config FILE`` sets its defaults."""

    config_file: str | None = None  # the file being read, named by error()

    def parse_known_args(
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """Parse ``args`` with the defaults of its ``--config FILE`` (if any)."""
        first, _ = super().parse_known_args(args, argparse.Namespace())
        if getattr(first, "config", None) is None:
            return super().parse_known_args(args, namespace)
        defaults = self.file_defaults(first.config)
        before = {a.dest: a.default for a in self._actions if a.dest in defaults}
        self.set_defaults(**defaults)
        try:
            return super().parse_known_args(args, namespace)
        finally:
            self.set_defaults(**before)

    def error(self, message: str) -> NoReturn:
        """Exit with a usage error; one in the ``--config`` file names the file."""
        prefix = f"--config {self.config_file}: " if self.config_file else ""
        super().error(prefix + message)

    def file_defaults(self, path: str) -> dict[str, Any]:
        """The option values of config file ``path``, parsed as on the command line."""
        self.config_file = path
        try:
            values = self.read_config(Path(path))
            tokens = [t for key, v in values.items() if v is not None for t in self.tokens(key, v)]
            parsed, _ = super().parse_known_args(tokens, argparse.Namespace())
        finally:
            self.config_file = None
        return {key: None if v is None else getattr(parsed, key) for key, v in values.items()}

    def read_config(self, path: Path) -> dict[str, Any]:
        """The mapping in ``path`` (JSON for ``.json``, else YAML), its keys checked."""
        import yaml

        try:
            text = path.read_text("utf-8")
            values = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            self.error(f"cannot read it ({exc})")
        if not isinstance(values, dict):
            self.error("it must hold a mapping of option names to values, e.g. n_envs: 4")
        valid = sorted(a.dest for a in self._actions if a.dest not in ("help", "config"))
        for key, value in values.items():
            if key not in valid:
                self.error(
                    f"unknown key {key!r}.{did_you_mean(str(key), valid)} "
                    f"Valid keys: {', '.join(valid)}."
                )
            self.check_form(key, value)
        return values

    def check_form(self, key: str, value: Any) -> None:
        """Exit with the form key ``key`` takes if ``value`` has another YAML shape."""
        action = next(a for a in self._actions if a.dest == key)
        pairs = isinstance(action, RepeatedOption) and action.metavar == "NAME=VALUES"
        if pairs:
            if not isinstance(value, (list, dict)):
                self.error(
                    f"key {key!r} holds {value!r}; write a mapping of NAME: VALUES, e.g. "
                    f"'{key}: {{learning_rate: [1e-5, 2e-5]}}', or a list of NAME=VALUES, "
                    f"e.g. '{key}: [\"learning_rate=1e-5,2e-5\"]'."
                )
        elif isinstance(value, dict) and action.type is not json_object:
            self.error(
                f"key {key!r} holds a mapping ({json.dumps(value)}), but {action.option_strings[0]}"
                f" takes one value or a list; write e.g. '{key}: VALUE' or '{key}: [A, B]'"
                + (
                    " (a weighted sum is one text: 'rougeL:0.7,chrf:0.3')"
                    if "reward" in key
                    else ""
                )
                + "."
            )

    def tokens(self, key: str, value: Any) -> list[str]:
        """The command-line text of option ``key`` set to ``value``."""
        action = next(a for a in self._actions if a.dest == key)
        name = action.option_strings[0]
        if action.nargs == 0:  # a flag: true or false
            if not isinstance(value, bool):
                self.error(f"{key} takes true or false, not {value!r}")
            if isinstance(action, argparse.BooleanOptionalAction):
                return [action.option_strings[0 if value else 1]]
            return [name] if value == action.const else []
        if isinstance(action, RepeatedOption) and isinstance(value, (list, dict)):
            items = (
                value
                if isinstance(value, list)
                else [f"{k}={as_text(v)}" for k, v in value.items()]
            )
            return [f"{name}={as_text(v)}" for v in items]
        # [3] is "3," (a list of one), as --seeds tells a list from a count
        counts = getattr(action.type, "__name__", "") == "parse_seeds"
        comma = "," if counts and isinstance(value, list) and len(value) == 1 else ""
        return [f"{name}={as_text(value)}{comma}"]


def as_text(value: Any) -> str:
    """A config file value as command-line text: lists comma-separated, dicts as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, list):
        return ",".join(as_text(v) for v in value)
    if isinstance(value, bool):
        return json.dumps(value)
    return str(value)


def add_config_option(p: argparse.ArgumentParser) -> None:
    """Add ``--config FILE`` to ``p``, a plain parser made a :class:`ConfigFileParser`.

    ``textgym.cli`` builds the subcommand parsers, so their class is switched here.
    """
    if type(p) not in (argparse.ArgumentParser, ConfigFileParser):
        raise TypeError(f"--config needs an argparse.ArgumentParser, not {type(p).__name__}")
    p.__class__ = ConfigFileParser
    p.add_argument(
        "--config",
        metavar="FILE",
        help="read options from a YAML file (JSON for .json) whose keys are the option names "
        "with _ (n_envs: 4, env_id: TextTranslate-v0); flags given here override it",
    )
