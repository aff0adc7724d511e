"""Every check of the command line in one place, each an `InputError` of one line: flags
that do not go together, outputs that cannot be written, a model id not in the local
cache; and the score flags turned into the core's `EvalConfig`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..core.errors import InputError


def check_before_loading(args: argparse.Namespace) -> None:
    """What can be refused from the flags alone, before the BLAS and MLX load."""
    adapters = [a for a in args.adapters or [] if a is not None]
    if args.model is None and adapters:
        raise InputError(f"--adapter-path {adapters[0]}: give --model: an adapter belongs "
                         "to the model it was trained on")
    if (args.model is None) != (args.data is None):
        missing = "--data" if args.data is None else "--model"
        raise InputError(f"{missing} is missing: give both --model and --data, "
                         "or neither to run the bundled demo")
    if args.watch and not adapters:
        raise InputError("--watch: needs the --adapter-path folder that mlx_lm.lora --train "
                         "writes (its --adapter-path); add it")
    if args.watch and len(args.split) > 1:
        raise InputError(f"--split {','.join(args.split)} with --watch: a watch scores one "
                         "split; start one watch per split (each with its own --run-dir)")
    if args.watch and args.kl:
        raise InputError("--kl with --watch: each checkpoint is scored on its own, so there is "
                         "no reference beside it; drop --kl, or use --checkpoints --kl once "
                         "training is done")
    check_output_files(args)


def check_output_files(args: argparse.Namespace) -> None:
    """--json and --csv must land in a folder that exists and can be written."""
    for flag, value in (("--json", args.json), ("--csv", args.csv)):
        if value is None:
            continue
        parent = value.expanduser().resolve().parent
        if not parent.is_dir():
            raise InputError(f"{flag} {value}: folder {parent} does not exist; create it first")
        if not os.access(parent, os.W_OK):
            raise InputError(f"{flag} {value}: folder {parent} is not writable")


def make_config(args: argparse.Namespace):
    """The EvalConfig of the score flags (the bundled demo without --model and --data)."""
    from ..core.config import DataFeatures, EvalConfig

    adapters = [a for a in args.adapters or [] if a is not None]
    group_by = tuple(dict.fromkeys(args.group_by or ()))
    if args.model is None:
        from .. import demo

        model, data = demo.MODEL_DIR, demo.DATA_DIR
        group_by = group_by or ("source",)  # the demo's records say their slice
        if args.adapters is None:  # `--adapter-path ""` scores the demo model alone
            adapters = list(demo.ADAPTER_DIRS.values())
    else:
        model, data = args.model[0], args.data
        if args.watch and len(args.model) > 1:
            raise InputError("--watch with several --model: a watch scores one model's "
                             "checkpoints; start one watch per model")
    config = EvalConfig(
        model=model, data=data, models=tuple(args.model) if args.model and len(args.model) > 1
        else (), adapters=adapters, split=args.split[0],
        splits=args.split if len(args.split) > 1 else (),
        batch_size=args.batch_size, max_seq_length=args.max_seq_length,
        test_batches=args.test_batches, mask_prompt=args.mask_prompt, seed=args.seed,
        features=DataFeatures(**args.features), no_base=args.no_base,
        checkpoints=args.checkpoints is not None,
        checkpoint_choice=args.checkpoints or "all", long_sequences=args.long_sequences,
        reference=args.reference, kl=args.kl, group_by=group_by, per_token=not args.loss_only,
        dequantize=args.dequantize, dtype=args.dtype, max_memory=args.max_memory,
    )
    check_flag_combinations(config)
    from ..core.data.record_groups import check_group_keys

    for split in config.all_splits:
        check_group_keys(config.data, split, config.group_by)
    return config


def check_flag_combinations(config) -> None:
    """Flags that need adapters, refused before anything loads."""
    if not config.adapters:
        for flag, on, why in (
                ("--no-base", config.no_base, "without --adapter-path nothing would be scored"),
                ("--checkpoints", config.checkpoints,
                 "needs --adapter-path folders to find checkpoints in"),
                ("--kl", config.kl and len(config.all_models) < 2,
                 "needs an adapter to compare with the reference (or a second --model)")):
            if on:
                raise InputError(f"{flag}: {why}; add --adapter-path or drop {flag}")
    if (config.kl and config.no_base and len(config.adapters) == 1 and not config.checkpoints
            and len(config.all_models) < 2):
        raise InputError("--kl with --no-base and one adapter: nothing to compare it with; "
                         "drop --no-base or add another --adapter-path")


def looks_like_hub_id(model: Path) -> bool:
    """`org/name` that is no local path: what mlx-lm would fetch from the Hugging Face Hub."""
    text = str(model)
    return (not Path(text).expanduser().exists() and not text.startswith((".", "/", "~"))
            and text.count("/") == 1 and all(text.split("/")))


def check_model_in_cache(model: Path) -> None:
    """A Hugging Face id must already be in the local cache: ppltop never downloads.
    Resolved as mlx-lm resolves it, offline (HF_HUB_OFFLINE=1, set by the command line before
    huggingface_hub loads). Imports mlx: call it after the BLAS is chosen."""
    if not looks_like_hub_id(model):
        return  # a local folder, or a path the model loader refuses with its own line
    from huggingface_hub.errors import HFValidationError

    try:
        from mlx_lm.utils import hf_repo_to_path  # mlx-lm's own patterns of needed files
    except ImportError:  # an older mlx-lm
        from huggingface_hub import snapshot_download

        def hf_repo_to_path(repo):
            return snapshot_download(repo, local_files_only=True)
    try:
        hf_repo_to_path(str(model))
    except (HFValidationError, OSError) as e:  # LocalEntryNotFoundError is a FileNotFoundError
        partial = "only partly " if type(e).__name__ == "IncompleteSnapshotError" else "not "
        raise InputError(f"{model}: {partial}in the local Hugging Face cache; download it "
                         f"first with `huggingface-cli download {model}` (or `hf download`), "
                         "or give a local folder") from e


def check_run_dir(run_dir: Path | None, overwrite: bool) -> None:
    """Refuse a run directory that holds a run or a run set (unless --overwrite) or cannot
    be written, before the model loads. None: the default under ./ppltop-runs/."""
    from ..core.store.records import refuse_held
    from ..run.score import DEFAULT_RUNS_FOLDER

    flag = f"--run-dir {run_dir}" if run_dir is not None else \
        f"run directory ./{DEFAULT_RUNS_FOLDER}"
    path = Path(run_dir if run_dir is not None else DEFAULT_RUNS_FOLDER).expanduser().absolute()
    if path.is_file():
        raise InputError(f"{flag}: is a file; give a folder (it is created if missing)")
    if run_dir is not None:
        refuse_held(run_dir, overwrite, flag)
    existing = next((p for p in [path, *path.parents] if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise InputError(f"{flag}: cannot write there ({existing} is a file, not a folder); "
                         "choose another --run-dir")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{flag}: cannot write there (folder {existing} is not writable); "
                         "choose a writable --run-dir")


def check_mode(config, request, ranks: int) -> None:
    """How the run is asked to go against what it scores: a watch and several splits are
    scored in one process, and several splits are not detached as one."""
    several = len(config.all_splits) > 1
    if request.watch and ranks > 1:
        raise InputError("--watch runs in one process: start it without mlx.launch")
    if several and ranks > 1:
        raise InputError(f"--split {','.join(config.all_splits)} under mlx.launch: "
                         "launch one run per split")
    if several and request.detach:
        raise InputError(f"--split {','.join(config.all_splits)} with --detach: detach "
                         "one run per split (each with its own --run-dir)")


def theme_warning(request) -> str | None:
    """--theme names no theme, and no dashboard will say so: the warning line, else None."""
    if not request.theme or not request.headless:
        return None
    from ..themes import load_themes

    names = list(load_themes().themes)
    if request.theme in names:
        return None
    return (f"warning: --theme {request.theme}: no such theme (known: {', '.join(names)}); "
            "themes apply only to the dashboard")
