"""Several models in one run (`--model` repeated) on the real model: the float32 copy, an
8-bit and the 4-bit copy made with mlx-lm's converter, scored on the same tokens.

The KL divergence and same-top figures are checked against an independent computation from
both models' full logits (the mlx-lm models run directly, dequantized by mlx-lm's own
function as ppltop dequantizes them on the CPU); the 4-bit copy's Δloss against separate
single-model runs. Quantized matmuls are slow on a CPU, so the data is three short records.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from support.cli import run_ppltop
from support.paths import REAL_DATA

mx = pytest.importorskip("mlx.core")
mlx_lm = pytest.importorskip("mlx_lm")

MAX_LEN = 40
"""--max-seq-length of every run here: short examples, to stay fast on 2 CPU cores."""
F32, Q8, Q4 = "smollm2-135m-f32", "smollm2-135m-8bit", "smollm2-135m-4bit"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Three records of the real text data, in a folder of their own."""
    folder = tmp_path_factory.mktemp("models-data")
    lines = (REAL_DATA / "text" / "test.jsonl").read_text(encoding="utf-8").splitlines()
    (folder / "test.jsonl").write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def models(real_models, tmp_path_factory) -> dict[str, Path]:
    """The float32 copy, an 8-bit copy converted now, and the cached 4-bit copy."""
    from mlx_lm import convert

    q8 = tmp_path_factory.mktemp("q8") / Q8
    convert(str(real_models.f32), mlx_path=str(q8), quantize=True, q_bits=8, q_group_size=64)
    return {F32: real_models.f32, Q8: q8, Q4: real_models.q4}


def _score(*args: str, out: Path) -> tuple[str, str, dict]:
    proc = run_ppltop(*args, "--max-seq-length", str(MAX_LEN), "--batch-size", "3",
                      "--json", str(out / "figures.json"), "--run-dir", str(out / "run"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, proc.stderr, json.loads((out / "figures.json").read_text())


@pytest.fixture(scope="module")
def three(models, data, tmp_path_factory):
    """`--model f32 --model 8bit --model 4bit`: (stdout, stderr, --json, run directory)."""
    out = tmp_path_factory.mktemp("three")
    stdout, stderr, figures = _score("--model", str(models[F32]), "--model", str(models[Q8]),
                                     "--model", str(models[Q4]), "--data", str(data), out=out)
    return stdout, stderr, figures, out / "run"


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    x = logits.astype(np.float64)
    m = x.max(axis=-1, keepdims=True)
    return x - (m + np.log(np.exp(x - m).sum(axis=-1, keepdims=True)))


@pytest.fixture(scope="module")
def full_logprobs(models, three) -> dict[str, dict[int, np.ndarray]]:
    """Per model and example, float64 log-probabilities over the whole vocabulary at every
    position, from the mlx-lm model run directly on the example's tokens (as the run read
    them: pieces.npz)."""
    from mlx_lm.utils import dequantize_model

    run = three[3]
    with np.load(run / "pieces.npz") as pieces:
        example, token = pieces["example"], pieces["token_id"].astype(np.int32)
    tokens = {int(i): token[example == i][:MAX_LEN] for i in np.unique(example)}
    out = {}
    for label, path in models.items():
        model, _ = mlx_lm.load(str(path))
        model = dequantize_model(model)
        out[label] = {}
        for i, ids in tokens.items():
            logits = model(mx.array(ids[None, :-1]))[0].astype(mx.float32)
            out[label][i] = _log_softmax(np.array(logits))
        del model
    return out


def _tokens(run: Path, label: str) -> dict[str, np.ndarray]:
    (path,) = run.glob(f"tokens-*-{label}.npz")
    with np.load(path) as npz:
        return {key: npz[key] for key in npz.files}  # the reference's has no `kl`


@pytest.mark.parametrize("label", [Q8, Q4])
def test_kl_and_same_top_match_the_full_logits(three, full_logprobs, label):
    """Per token, KL(f32 || copy) equals sum p_ref (log p_ref - log p) from both models' full
    logits; the mean, 90/99/99.9 percentiles and maximum the run reports are those of these
    numbers, and the same-top share is the share of tokens whose argmax agrees."""
    _, _, figures, run = three
    mine = _tokens(run, label)
    ref = _tokens(run, F32)
    assert np.array_equal(mine["position"], ref["position"])
    kl, same, near_ties = [], [], 0
    for i, p in zip(mine["example"], mine["position"]):
        lp_ref, lp = full_logprobs[F32][int(i)][p - 1], full_logprobs[label][int(i)][p - 1]
        kl.append(float(np.sum(np.exp(lp_ref) * (lp_ref - lp))))
        same.append(lp_ref.argmax() == lp.argmax())
        for side in (lp_ref, lp):  # a top-2 gap under rounding could flip either argmax
            top2 = np.sort(side)[-2:]
            near_ties += int(top2[1] - top2[0] < 1e-4)
    kl_a = np.array(kl)
    assert len(kl_a) > 60 and kl_a.mean() > 1e-3  # a real difference, over enough tokens
    # float32 logits on both sides, computed in other shapes: ~2e-6 nats apart at most
    np.testing.assert_allclose(mine["kl"], kl_a, rtol=1e-4, atol=1e-5)
    row = next(r for r in figures["models"] if r["label"] == label)
    assert row["kl_mean"] == pytest.approx(kl_a.mean(), rel=1e-4, abs=1e-5)
    for q in ("90", "99", "99.9"):
        assert row["kl_percentiles"][q] == pytest.approx(np.percentile(kl_a, float(q)),
                                                         rel=1e-4, abs=1e-5)
    assert row["kl_max"] == pytest.approx(kl_a.max(), rel=1e-4, abs=1e-5)
    lo, hi = row["kl_ci95"]
    assert lo < row["kl_mean"] < hi
    n = len(same)
    assert abs(row["same_top"] * n - sum(same)) <= near_ties
    assert 0 < row["same_top"] < 1
    # the argmax of each side is what ppltop kept as its top-1 id
    assert np.mean(mine["top_ids"][:, 0] == ref["top_ids"][:, 0]) == pytest.approx(
        row["same_top"])
    comparison = next(c for c in figures["comparison"] if c["label"] == label)
    assert comparison["kld"]["mean"] == row["kl_mean"]  # one computation, two places


def test_delta_loss_of_the_4bit_copy_matches_separate_runs(models, data, three,
                                                            tmp_path_factory):
    """The 4-bit copy's Δloss in the three-model run is the difference of the losses of two
    single-model runs, and each model's loss is its single run's."""
    _, _, figures, _ = three
    alone = {}
    for label in (F32, Q4):
        _, _, single = _score("--model", str(models[label]), "--data", str(data),
                              out=tmp_path_factory.mktemp(f"alone-{label}"))
        (alone[label],) = [r["loss"] for r in single["runs"]]
    losses = {r["label"]: r["loss"] for r in figures["runs"]}
    assert losses[F32] == pytest.approx(alone[F32], abs=1e-6)
    assert losses[Q4] == pytest.approx(alone[Q4], abs=1e-6)
    c = next(c for c in figures["comparison"] if c["label"] == Q4)
    assert c["reference"] == F32
    assert c["delta_loss"] == pytest.approx(alone[Q4] - alone[F32], abs=1e-6)
    lo, hi = c["delta_ci95"]
    assert lo <= c["delta_loss"] <= hi
    assert c["ppl_ratio"] == pytest.approx(math.exp(alone[Q4] - alone[F32]), rel=1e-5)


def test_three_models_print_the_comparison_and_the_models_table(three):
    """Each copy's Δloss with its paired interval, then the models table with KL and the
    same-top share; the labels are the folders' names, the first model the reference."""
    stdout, stderr, figures, _ = three
    assert f"labels: {F32}, {Q8}, {Q4}" in stderr
    assert [r["label"] for r in figures["runs"]] == [F32, Q8, Q4]
    assert figures["models"][0]["reference"] and figures["models"][0]["label"] == F32
    head = stdout.index("== comparison, paired over the same examples")
    table = stdout.index(f"== models (reference: {F32}")
    for label in (Q8, Q4):
        c = next(c for c in figures["comparison"] if c["label"] == label)
        line = next(ln for ln in stdout[head:table].splitlines() if ln.startswith(label + " "))
        assert f"{c['delta_loss']:+.4f}" in line and "[" in line
        row = next(r for r in figures["models"] if r["label"] == label)
        line = next(ln for ln in stdout[table:].splitlines() if ln.startswith(label + " "))
        assert f"{row['kl_mean']:.5f}" in line
        assert f"{100 * row['same_top']:.1f}%" in line
        assert f"{row['kl_percentiles']['99']:.4f}" in line
    for word in ("ΔPPL", "KL mean [95% CI]", "KL 90%", "KL 99%", "KL 99.9%", "KL max",
                 "same top", "tok/s", "peak"):
        assert word in stdout[table:]


@pytest.fixture(scope="module")
def shallow(real_models, tmp_path_factory) -> Path:
    """The float32 copy cut to its first 3 blocks: the same tokenizer, too few blocks for
    the LoRA adapter (trained on the last 4)."""
    from mlx_lm.utils import load_model

    folder = tmp_path_factory.mktemp("shallow") / "smollm2-3-blocks"
    folder.mkdir()
    for file in real_models.f32.iterdir():  # the tokenizer's files, the chat template
        if file.is_file() and file.suffix != ".safetensors" and "index" not in file.name:
            (folder / file.name).write_bytes(file.read_bytes())
    config = json.loads((real_models.f32 / "config.json").read_text())
    config["num_hidden_layers"] = 3
    (folder / "config.json").write_text(json.dumps(config))
    weights = {}
    for file in real_models.f32.glob("*.safetensors"):
        weights.update(mx.load(str(file)))
    kept = {k: v for k, v in weights.items()
            if not k.startswith("model.layers.") or int(k.split(".")[2]) < 3}
    mx.save_safetensors(str(folder / "model.safetensors"), kept)
    load_model(folder)  # mlx-lm loads it as it is
    return folder


def test_an_adapter_is_scored_with_the_models_it_fits(models, shallow, data, real_models,
                                                       tmp_path_factory):
    """--adapter-path applies to every model it fits; the run says which pairs it scored."""
    stdout, stderr, figures = _score(
        "--model", str(models[F32]), "--model", str(shallow), "--adapter-path",
        str(real_models.lora), "--data", str(data),
        out=tmp_path_factory.mktemp("adapter-pairs"))
    lora, cut = real_models.lora.name, shallow.name
    assert [r["label"] for r in figures["runs"]] == [F32, f"{F32}+{lora}", cut]
    assert f"adapter {lora} scored with {F32}; not with {cut} (it does not fit" in stderr
    paired = next(c for c in figures["comparison"] if c["label"] == f"{F32}+{lora}")
    assert paired["kld"]["mean"] > 0 and paired["delta_loss"] != 0
    assert {r["label"]: r["model"] for r in figures["models"]}[cut] == str(shallow)


def test_labels_are_the_folders_names_made_unique():
    from ppltop.core.config import EvalConfig
    from ppltop.core.engine.plan import label_pairs, model_labels

    paths = (Path("/a/q4"), Path("/b/q4"), Path("org/model"))
    assert model_labels(paths) == ["q4", "q4#2", "model"]
    config = EvalConfig(model=paths[0], data=Path("d"), models=paths, no_base=False)
    assert list(label_pairs(config, [])) == ["q4", "q4#2", "model"]
    assert config.compares_distributions and not config.kl
    assert config.to_dict()["models"] == [str(p) for p in paths]
    assert EvalConfig(**config.to_dict()).models == paths  # as a manifest reads it back


async def test_the_comparison_screen_shows_the_models_labels(quantized_model, demo_test_file):
    """The dashboard's comparison, on the demo model and its 4-bit copy (both folders are
    named `model`: the labels `model` and `model#2`), shows the engine's own figures."""
    from ppltop import demo
    from ppltop.core.config import EvalConfig
    from ppltop.core.engine.evaluation import Evaluation
    from ppltop.ui.app import PplTopApp
    from ppltop.ui.screens.comparison_screen import ComparisonScreen
    from support.pilot import figures_drawn, wait_for
    from support.synthetic import INFO

    config = EvalConfig(model=demo.MODEL_DIR, models=(demo.MODEL_DIR, quantized_model),
                        data=demo_test_file)
    evaluation = Evaluation(config)
    app = PplTopApp(evaluation.events, INFO, request_stop=evaluation.cancel)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.live.finished is not None)
        assert list(app.live.labels) == ["model", "model#2"]
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, ComparisonScreen), timeout=60)
        await figures_drawn(pilot)
        screen = app.screen
        assert screen.reference == "model"
        (engine,) = app.live.finished.comparisons
        shown = dict(screen.rows)["model#2"]
        assert shown.delta_loss == engine.delta_loss and shown.delta_loss != 0
        assert shown.delta_ci95 == engine.delta_ci95
        assert engine.kld is not None and engine.kld["mean"] > 0
