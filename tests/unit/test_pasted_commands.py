"""One command line: the argparse tree and its subcommands, pasted `mlx_lm.lora --test`
commands (training flags, `-c` YAML configs, `--adapter-path ""`), and the refusals that
come before anything loads. Demo runs are real subprocesses; the rest calls the parser."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ppltop import demo
from ppltop.cli import main
from ppltop.cli.main import score_config
from ppltop.cli.parser import parse
from ppltop.core.config import DataFeatures
from support.cli import run_ppltop
from support.mlx_lm_reference import mlx_lm_lora_test_line

DOCS_NET = str(demo.ADAPTER_DIRS["docs-net"])
NO_NETWORK = {"HF_HUB_OFFLINE": "0", "HTTPS_PROXY": "http://127.0.0.1:9",
              "HTTP_PROXY": "http://127.0.0.1:9"}
"""Were ppltop to reach for the Hub, it would fail on this proxy, not with its own line."""


@pytest.fixture(autouse=True)
def _offline_env(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # main() sets it; restored after each test


def _main(capsys, *argv: str) -> tuple[int, str, list[str]]:
    """main() in process: (status, stdout, stderr lines)."""
    try:
        status = main(list(argv))
    except SystemExit as e:
        status = e.code
    out, err = capsys.readouterr()
    return status, out, err.splitlines()


def _config(*argv: str):
    parser, args = parse(list(argv))
    return score_config(args, parser)


def _fake_hub_cache(home: Path, repo: str) -> None:
    """The demo model as the Hugging Face cache keeps a downloaded repo."""
    folder = home / "hub" / f"models--{repo.replace('/', '--')}"
    shutil.copytree(demo.MODEL_DIR, folder / "snapshots" / "0123abcd")
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text("0123abcd")


def _ignored_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.startswith("ppltop: ignored:")]
    assert len(lines) == 1, stderr[-3000:]
    return lines[0]


def test_pasted_mlx_lm_lora_command_scores(tmp_path):
    """A whole `mlx_lm.lora` command line, training flags and a Hub id (in the local cache)
    included; Hub access is off even when the environment turns it on."""
    _fake_hub_cache(tmp_path / "hf", "ppltop-demo/tiny-llama")
    out = tmp_path / "s.json"
    training = ["--train", "--fine-tune-type", "lora", "--optimizer", "adamw",
                "--num-layers", "4", "--iters", "600", "--val-batches", "-1",
                "--learning-rate", "1e-5", "--steps-per-report", "10", "--steps-per-eval",
                "200", "--grad-accumulation-steps", "2", "--resume-adapter-file", "a.safetensors",
                "--save-every", "100", "--grad-checkpoint", "--clear-cache-threshold", "1G",
                "--report-to", "wandb", "--project-name", "p", "--wandb", "p"]
    proc = run_ppltop("--model", "ppltop-demo/tiny-llama", *training[:5], "--data",
                      str(demo.DATA_DIR), *training[5:], "--adapter-path", DOCS_NET, "--test",
                      "--test-batches", "-1", "--batch-size", "4", "--max-seq-length", "2048",
                      "--seed", "0", "--json", str(out),
                      env={"HF_HOME": str(tmp_path / "hf"), **NO_NETWORK})
    assert proc.returncode == 0, proc.stderr[-3000:]
    flags = [a for a in training if a.startswith("--")]
    assert _ignored_line(proc.stderr) == f"ppltop: ignored: {', '.join(flags)} (training only)"
    assert proc.stdout.count("Test loss ") == 2  # base and the adapter
    # the line mlx_lm.lora prints for the same command (less its training flags)
    line = mlx_lm_lora_test_line(demo.MODEL_DIR, demo.DATA_DIR, "--test-batches", "-1",
                                 "--batch-size", "4", "--max-seq-length", "2048", "--seed", "0",
                                 adapter=DOCS_NET)
    assert proc.stdout.split("== docs-net")[1].splitlines()[1] == line
    summary = json.loads(out.read_text())
    assert summary["model"] == "ppltop-demo/tiny-llama"
    assert [r["label"] for r in summary["runs"]] == ["base", "docs-net"]
    assert summary["config"]["test_batches"] == -1 and summary["config"]["batch_size"] == 4


def test_config_file_with_overrides_and_an_unknown_theme(tmp_path):
    """`-c FILE` fills what the command line does not give (the command line wins); its
    training-only and unknown keys are named in the one notice; the *_feature keys rename
    the record keys; --theme with no such theme warns when there is no dashboard."""
    data = tmp_path / "data"
    data.mkdir()
    records = [json.loads(line) for line in
               (demo.COMPLETIONS_DATA_DIR / "test.jsonl").read_text().splitlines()]
    (data / "test.jsonl").write_text("".join(
        json.dumps({"question": r["prompt"], "answer": r["completion"]}) + "\n"
        for r in records))
    config = tmp_path / "lora.yaml"
    config.write_text(f"""# as mlx_lm.lora reads it
model: {demo.MODEL_DIR}
train: true
test: true
data: {data}
adapter_path: {DOCS_NET}
fine_tune_type: lora
batch_size: 2
iters: 600
learning_rate: 1e-5
max_seq_length: 512
test_batches: 3
mask_prompt: true
seed: 7
prompt_feature: question
completion_feature: answer
lora_parameters:
  rank: 8
  scale: 20.0
colour: blue
""")
    out = tmp_path / "s.json"
    proc = run_ppltop("-c", str(config), "--batch-size", "3", "--headless", "--theme",
                      "no-such-theme", "--loss-only", "--json", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _ignored_line(proc.stderr) == (
        f"ppltop: ignored: train, fine_tune_type, iters, learning_rate, lora_parameters in "
        f"{config} (training only); colour in {config} (not an mlx_lm.lora key)")
    assert "ppltop: warning: --theme no-such-theme: no such theme (known: ppltop-dark" \
        in proc.stderr
    summary = json.loads(out.read_text())
    cfg = summary["config"]
    assert (cfg["batch_size"], cfg["test_batches"], cfg["max_seq_length"], cfg["seed"],
            cfg["mask_prompt"]) == (3, 3, 512, 7, True)
    assert cfg["features"] == {"text": "text", "chat": "messages", "prompt": "question",
                               "completion": "answer"}
    assert [r["label"] for r in summary["runs"]] == ["base", "docs-net"]
    assert summary["runs"][0]["examples"] == 9  # 3 batches of 3


def test_bad_config_files_get_one_line_naming_file_and_key(tmp_path, capsys):
    cases = [
        ("model: [unclosed\n", "not valid YAML ("),
        ("- a list\n- not a mapping\n", "expected `key: value` lines (a YAML mapping)"),
        ("batch_size: four\n", "batch_size 'four': expected a whole number"),
        ("batch_size: 4.0\n", "batch_size 4.0: expected a whole number"),
        ("test_batches: 0\n", "test_batches 0: must be at least 1 (or -1)"),
        ("seed: -1\n", "seed -1: must be at least 0"),
        ("mask_prompt: maybe\n", "mask_prompt 'maybe': expected true or false"),
        ("model: 3\n", "model 3: expected a path (text)"),
        ("prompt_feature: ''\n", "prompt_feature '': expected a non-empty string"),
        ("hf_dataset:\n  path: org/set\n", "hf_dataset: ppltop reads no Hugging Face datasets"),
    ]
    for number, (text, expected) in enumerate(cases):
        config = tmp_path / f"c{number}.yaml"
        config.write_text(text)
        status, _, err = _main(capsys, "-c", str(config), "--headless")
        assert (status, len(err)) == (2, 1), (text, err)
        assert err[0].startswith(f"ppltop: {config}: ") and expected in err[0], (text, err)
    status, _, err = _main(capsys, "-c", str(tmp_path / "none.yaml"))
    assert status == 2 and err == [f"ppltop: -c {tmp_path / 'none.yaml'}: cannot read (No "
                                   "such file or directory); give mlx_lm.lora's YAML config file"]


def test_adapter_path_blank_means_no_adapter():
    config, _ = _config("--adapter-path", "")
    assert config.model == demo.MODEL_DIR and config.adapters == []  # the demo model alone
    config, _ = _config("--model", str(demo.MODEL_DIR), "--data", str(demo.DATA_DIR),
                        "--adapter-path", "")
    assert config.adapters == []
    config, ignored = _config()  # no flag: the demo with its adapters
    assert config.adapters == list(demo.ADAPTER_DIRS.values()) and ignored.notice() is None
    assert config.features == DataFeatures()


def test_config_keys_without_a_value_are_unset(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(f"model: {demo.MODEL_DIR}\ndata: {demo.DATA_DIR}\nadapter_path:\n"
                      "batch_size: null\nseed: 3\n")
    config, _ = _config("-c", str(config), "--seed", "5")
    assert (config.adapters, config.batch_size, config.seed) == ([], 4, 5)


def test_adapter_without_model_is_refused(tmp_path, capsys):
    expected = (f"ppltop: --adapter-path {DOCS_NET}: give --model: an adapter belongs to the "
                "model it was trained on")
    assert _main(capsys, "--adapter-path", DOCS_NET, "--headless")[::2] == (2, [expected])
    config = tmp_path / "c.yaml"
    config.write_text(f"adapter_path: {DOCS_NET}\n")
    assert _main(capsys, "-c", str(config), "--headless")[::2] == (2, [expected])
    status, _, err = _main(capsys, "--adapter-path", "", "--kl")
    assert status == 2 and "--kl: needs an adapter" in err[0]


def test_uncached_hub_id_is_refused_without_network(tmp_path):
    (tmp_path / "hf").mkdir()
    proc = run_ppltop("--model", "nobody-here/no-such-model", "--data", str(demo.DATA_DIR),
                      "--headless", env={"HF_HOME": str(tmp_path / "hf"), **NO_NETWORK})
    lines = [ln for ln in proc.stderr.splitlines() if not ln.startswith("ppltop: BLAS")]
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert lines == ["ppltop: nobody-here/no-such-model: not in the local Hugging Face cache; "
                     "download it first with `huggingface-cli download nobody-here/no-such-model`"
                     " (or `hf download`), or give a local folder"]


def test_help_lists_the_commands_and_each_has_its_own(capsys):
    status, out, _ = _main(capsys, "--help")
    assert status == 0
    for command in ("open", "resume", "runs"):
        assert f"    {command} " in out
    for flag in ("--model PATH", "--test-batches N", "-c FILE, --config FILE", "--test ",
                 "--headless", "--blas"):
        assert flag in out, flag
    for command, flags in (("open", ("RUN_DIR", "--no-follow", "--headless", "--json")),
                           ("resume", ("RUN_DIR", "--blas", "--headless")),
                           ("runs", ("FOLDER",))):
        status, out, _ = _main(capsys, command, "--help")
        assert status == 0 and out.startswith(f"usage: ppltop {command} "), out
        assert all(flag in out for flag in flags), (command, out)
        assert "--model" not in out


def test_flags_are_never_abbreviations_and_go_after_a_command(capsys):
    _, args = parse(["--test"])  # mlx-lm's --test, not an abbreviation of --test-batches
    assert args.test is True and args.test_batches is None
    status, _, err = _main(capsys, "--test-batch=3")
    assert status == 2 and "unknown flag --test-batch (did you mean --test-batches?)" in err[0]
    status, _, err = _main(capsys, "--headless", "open", "somewhere")
    assert status == 2 and "flags go after the command: ppltop open" in err[0]


def test_runs_without_a_runs_folder_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status, out, err = _main(capsys, "runs")
    assert (status, err) == (0, [])
    assert out.startswith(f"no runs yet: {tmp_path / 'ppltop-runs'} does not exist")
    status, _, err = _main(capsys, "runs", str(tmp_path / "elsewhere"))
    assert status == 2 and "no such folder" in err[0]  # a folder named, and missing
