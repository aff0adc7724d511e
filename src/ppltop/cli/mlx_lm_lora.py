"""What `mlx_lm.lora` accepts besides the flags ppltop shares with it, so that a pasted
`mlx_lm.lora --test ...` command works: its training-only flags (accepted, then named in one
notice as ignored) and its YAML config file (`-c/--config`), read as mlx-lm reads it.

The flags are those of mlx-lm 0.32's `mlx_lm.lora` parser, plus `--wandb PROJECT` of older
releases. The config is read as `mlx_lm.lora` reads it: a YAML mapping whose keys fill what
the command line did not give (command-line flags win). mlx-lm's YAML loader only adds a
resolver for floats such as `1e-5`, which only training keys hold; PyYAML's safe loader reads
every key ppltop uses (whole numbers, true/false, text) the same way.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from .arg_types import ConfigValueError, Flag, Text

TRAINING_FLAGS: dict[str, str | None] = {
    "--train": None, "--fine-tune-type": "TYPE", "--optimizer": "NAME", "--num-layers": "N",
    "--iters": "N", "--val-batches": "N", "--learning-rate": "LR", "--steps-per-report": "N",
    "--steps-per-eval": "N", "--grad-accumulation-steps": "N", "--resume-adapter-file": "FILE",
    "--save-every": "N", "--grad-checkpoint": None, "--clear-cache-threshold": "SIZE",
    "--report-to": "NAMES", "--project-name": "NAME", "--wandb": "PROJECT",
}
"""mlx_lm.lora's flags that only training reads, with the metavar of those taking a value."""
UNSUPPORTED_FLAGS: dict[str, str | None] = {"--trust-remote-code": None}
"""Flags of mlx_lm.lora that ppltop accepts but does not act on (it runs no remote code)."""

CONFIG_KEYS = {"model": "model", "data": "data", "adapter_path": "adapters",
               "batch_size": "batch_size", "max_seq_length": "max_seq_length",
               "test_batches": "test_batches", "mask_prompt": "mask_prompt", "seed": "seed"}
"""mlx-lm config keys ppltop reads, and the destination of the flag that shares their meaning."""
FEATURE_KEYS = {"text_feature": "text", "chat_feature": "chat", "prompt_feature": "prompt",
                "completion_feature": "completion"}
"""mlx-lm's record-key config keys (no flag), and their field of `core.config.DataFeatures`."""
NO_EFFECT_KEYS = {"test", "config"}
"""Keys that say what ppltop does anyway (`test`), or mean nothing inside a config file."""
TRAINING_KEYS = {"train", "fine_tune_type", "optimizer", "optimizer_config", "num_layers",
                 "iters", "val_batches", "learning_rate", "steps_per_report", "steps_per_eval",
                 "resume_adapter_file", "save_every", "grad_checkpoint", "lr_schedule",
                 "grad_accumulation_steps", "clear_cache_threshold", "lora_parameters",
                 "report_to", "project_name", "wandb"}
UNSUPPORTED_KEYS = {"trust_remote_code", "hf_dataset"}


class IgnoredFlag(argparse.Action):
    """Accepts an mlx_lm.lora flag ppltop does not act on and notes its name."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        noted = getattr(namespace, self.dest, None) or []
        if option_string not in noted:
            noted.append(option_string)
        setattr(namespace, self.dest, noted)


def add_mlx_lm_flags(parser: argparse.ArgumentParser) -> None:
    """`-c/--config`, `--test`, and the training-only flags (hidden from the option list,
    named in the group's description)."""
    group = parser.add_argument_group(
        "pasted mlx_lm.lora commands",
        "Accepted and ignored, named in one notice: mlx_lm.lora's training-only flags "
        + ", ".join(f"{flag} {metavar}" if metavar else flag
                    for flag, metavar in TRAINING_FLAGS.items())
        + ", and --trust-remote-code (ppltop runs no remote code).")
    group.add_argument("-c", "--config", type=Path, metavar="FILE",
                       help="mlx_lm.lora's YAML config: model, data, adapter_path, batch_size, "
                       "max_seq_length, test_batches, mask_prompt, seed and the *_feature keys "
                       "are read; flags on the command line win")
    group.add_argument("--test", action="store_true",
                       help="what ppltop does anyway: score the --split (test by default)")
    for flags, training in ((TRAINING_FLAGS, True), (UNSUPPORTED_FLAGS, False)):
        for flag, metavar in flags.items():
            group.add_argument(flag, action=IgnoredFlag, nargs=1 if metavar else 0,
                               dest="training_flags" if training else "unsupported_flags",
                               default=None, help=argparse.SUPPRESS)


@dataclass
class Ignored:
    """What a pasted command or its config file holds that ppltop does not act on."""

    training_flags: list[str] = field(default_factory=list)
    unsupported_flags: list[str] = field(default_factory=list)
    training_keys: list[str] = field(default_factory=list)
    unsupported_keys: list[str] = field(default_factory=list)
    unknown_keys: list[str] = field(default_factory=list)
    config_file: Path | None = None

    def notice(self) -> str | None:
        """One line naming all of them, or None."""
        where = f" in {self.config_file}"
        groups = [(self.training_flags, "", "training only"),
                  (self.training_keys, where, "training only"),
                  (self.unsupported_flags + self.unsupported_keys, "", "not supported by ppltop"),
                  (self.unknown_keys, where, "not an mlx_lm.lora key")]
        parts = [f"{', '.join(names)}{place} ({why})" for names, place, why in groups if names]
        return f"ignored: {'; '.join(parts)}" if parts else None


def read_config(path: Path) -> dict:
    """The YAML file as mlx_lm.lora reads it; a bad file is one InputError naming it."""
    import yaml

    from ..core.errors import InputError

    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as e:
        raise InputError(f"-c {path}: cannot read ({e.strerror}); give mlx_lm.lora's YAML "
                         "config file") from e
    except UnicodeDecodeError as exc:
        raise InputError(f"-c {path}: not a text file (not UTF-8); give mlx_lm.lora's YAML "
                         "config file") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or type(e).__name__
        raise InputError(f"{path}: not valid YAML ({problem}{at})") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected `key: value` lines (a YAML mapping) as "
                         f"mlx_lm.lora's config, got a {type(data).__name__}")
    return {str(key): value for key, value in data.items()}


def apply_config(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Ignored:
    """Fill the flags the command line did not give from `-c FILE`, as mlx_lm.lora does;
    each value is checked by the type of the flag that shares its meaning.
    Returns what is ignored (training-only, unsupported and unknown flags and keys)."""
    from ..core.errors import InputError

    ignored = Ignored(training_flags=args.training_flags or [],
                      unsupported_flags=args.unsupported_flags or [], config_file=args.config)
    args.features = {}
    if args.config is None:
        return ignored
    kinds = {action.dest: action.type if hasattr(action.type, "check") else Flag()
             for action in parser._actions if action.dest in CONFIG_KEYS.values()}
    data = read_config(args.config)
    data_on_command_line = args.data is not None
    for key, value in data.items():
        if value is None:  # `key:` with no value: unset, as mlx-lm reads it
            continue
        if key in CONFIG_KEYS or key in FEATURE_KEYS:
            kind = kinds[CONFIG_KEYS[key]] if key in CONFIG_KEYS else Text()
            try:
                checked = kind.check(value)
            except ConfigValueError as e:
                shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:39] + "…"
                raise InputError(f"{args.config}: {key} {shown}: {e}") from e
            if key in FEATURE_KEYS:
                args.features[FEATURE_KEYS[key]] = checked
            elif getattr(args, CONFIG_KEYS[key]) is None:  # the command line wins
                # the repeatable flags (--adapter-path, --model) hold lists
                listed = key in ("adapter_path", "model")
                setattr(args, CONFIG_KEYS[key], [checked] if listed else checked)
        elif key in TRAINING_KEYS:
            ignored.training_keys.append(key)
        elif key in UNSUPPORTED_KEYS:
            ignored.unsupported_keys.append(key)
        elif key not in NO_EFFECT_KEYS:
            ignored.unknown_keys.append(key)
    if "hf_dataset" in data and not data_on_command_line:  # mlx-lm would read it, not `data`
        raise InputError(f"{args.config}: hf_dataset: ppltop reads no Hugging Face datasets "
                         "(it never downloads); give --data a folder with test.jsonl")
    return ignored
