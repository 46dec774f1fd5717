"""Train the correction network: the U-Net with six input channels that refines an answer from corrective clicks.

    python training/train_corrections.py --cache CACHE --first weights/polyseg_unet.xml --out CACHE/run-corrections \
        --init-from weights/polyseg_unet.xml --freeze-bn --lr 3e-4 --epochs 6 --samples-per-epoch 8000 \
        --export CACHE/out-refine-1.0/polyseg_refine.xml --version 1.0

(the shipped 1.2 trains on from that run's ``best.pt`` with ``--prior-p 0.15 --max-prior 16``: the model card has
both commands in full, with their draw weights).

Inputs (``polyseg.crop.correction_input``): R, G, B of the first answer's window, positive clicks (the extreme
points among them), negative clicks, and the previous answer's probability. The first answer comes from the
shipped 4-channel IR (``--first``, run with OpenVINO, as at run time). Initialised from a 4-channel model
(``--init-from``: a checkpoint or an IR), the new channels' weights start at zero, so before training the network
gives the first answer again whatever the clicks.

Clicks are simulated as RITM trains: for each sample, first some *prior* clicks placed without the model (the
protocol's rule, with some randomness, on an answer corrected by a brush at each click; their number is geometric,
``--prior-p``, at most ``--max-prior``), then up to
``--max-iter`` clicks placed on the model's own answers without gradient (the previous probability fed back),
and a last click whose answer is trained. Validation runs the protocol of :mod:`clicker` at 128x128 on a fixed
subset of the validation cache: mean IoU after each corrective click, and NoC@85/90 counting the extreme points
as four clicks. The best epoch is the one with the highest mean IoU over corrective clicks 1-5.

On a GPU machine, ``--workers N`` makes the model-free part of each step (draw, first answer, prior clicks) in N
processes, each batch from its own seed, and the network trains on ``--device`` (default: cuda where there is
one); ``--workers 0`` (the default, the CPU recipe) makes it in the training loop from one generator.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openvino as ov
import torch
from tqdm import tqdm

from clicker import Click, brush, clicks_to_reach, iou, next_click
from model import UNet
from net2wider import widen_unet
from polyseg.crop import correction_channels, focus_window, render_points, resample_map
from prepare import DEFAULT_CACHE, Patch, load_split
from samples import (
    QUALITY,
    Augment,
    Drawn,
    focus_rgb,
    make_sample,
)
from train import (
    LOSSES,
    add_train_arguments,
    checkpoint,
    draw_objects,
    draw_probabilities,
    epoch_order,
    freeze_batchnorm,
    gradient_step,
    initial_weights,
    optimiser,
    sample_geometry,
    save_epoch,
    worker_loader,
)

VAL_CLICKS = 8  # corrective clicks simulated per validation object
SCORE_CLICKS = 5  # the best epoch: mean IoU over corrective clicks 1..SCORE_CLICKS
REPLAY = 0.3  # share of samples whose prior clicks come with the first answer unchanged as the previous answer


class FirstAnswer:
    """The first answer's probabilities from a 4-channel IR, in batches (OpenVINO, dynamic batch)."""

    def __init__(self, xml: Path, threads: int = 0) -> None:
        core = ov.Core()
        model = core.read_model(str(xml))
        size = model.input(0).get_partial_shape()[2]
        model.reshape([-1, 4, size, size])
        if threads:  # threads=1 in a DataLoader worker: one core each, as many workers as cores
            config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads}
        else:
            config = {"PERFORMANCE_HINT": "THROUGHPUT"}
        self.compiled = core.compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()

    def __call__(self, x4: np.ndarray) -> np.ndarray:
        """``(N, 4, S, S)`` float32 -> ``(N, S, S)`` float32 probabilities."""
        return self.request.infer({0: np.ascontiguousarray(x4, np.float32)})[0][:, 0].copy()


def widen(state: dict[str, torch.Tensor], channels: int = 6) -> dict[str, torch.Tensor]:
    """A 4-channel U-Net's weights for ``channels`` inputs: the new channels' first-layer weights are zero."""
    state = dict(state)
    key = "down.0.0.weight"  # the first convolution
    w = state[key]
    if w.shape[1] != channels:
        extra = torch.zeros(w.shape[0], channels - w.shape[1], *w.shape[2:], dtype=w.dtype)
        state[key] = torch.cat([w, extra], 1)
    for name, pad in (("mean", 0.0), ("std", 255.0)):
        if state[name].shape[1] != channels:
            extra = torch.full((1, channels - state[name].shape[1], 1, 1), pad)
            state[name] = torch.cat([state[name], extra], 1)
    return state


def click_channels(clicks: list[Click], size: int, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Positive and negative click discs at network resolution (clicks are input-pixel coordinates)."""
    pos = np.array([(c.x, c.y) for c in clicks if c.positive], np.float64).reshape(-1, 2)
    neg = np.array([(c.x, c.y) for c in clicks if not c.positive], np.float64).reshape(-1, 2)
    return render_points(pos if len(pos) else None, size, radius), render_points(
        neg if len(neg) else None, size, radius
    )


def build_input(x4: np.ndarray, clicks: list[Click], previous: np.ndarray, radius: float) -> np.ndarray:
    """The 6-channel input from a first-answer input (its RGB and extreme-point channel), corrective clicks (in
    input pixels) and the previous probability, laid out by :func:`polyseg.crop.correction_channels`."""
    pos, neg = click_channels(clicks, x4.shape[-1], radius)
    return correction_channels(x4[:3], np.maximum(x4[3], pos), neg, previous)


def focus_input(
    drawn: Drawn, clicks: list[Click], answer: np.ndarray, rng: np.random.Generator, aug: Augment, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """A zoom-in sample, as ``Segmenter.refine(zoom=True)`` builds it: the focus window around the last click
    (:func:`polyseg.crop.focus_window`, in the drawn patch's pixels), cut from the same patch; the object window's
    answer after that click (``answer``) as the previous probability; the extreme points (unless a box sample) and
    every positive click, and the negative clicks inside the window. Returns the ``(6, S, S)`` input and target."""
    window = drawn.window
    last = window.to_image(np.array([clicks[-1].x, clicks[-1].y], np.float64))
    focus = focus_window(window, last)
    rgb, y = focus_rgb(drawn, focus, rng, aug)
    pos = window.to_image(np.array([(c.x, c.y) for c in clicks if c.positive], np.float64).reshape(-1, 2))
    neg = window.to_image(np.array([(c.x, c.y) for c in clicks if not c.positive], np.float64).reshape(-1, 2))
    if drawn.x[3].any():  # the extreme points were drawn (not a box sample)
        pos = np.concatenate([drawn.points, pos])
    neg = neg[focus.contains(neg)]
    discs = [render_points(focus.to_input(q) if len(q) else None, focus.size, radius) for q in (pos, neg)]
    return correction_channels(rgb, *discs, resample_map(answer, window, focus)), y


@torch.no_grad()
def probabilities(model: UNet, x: np.ndarray, amp: bool) -> np.ndarray:
    """The model's probabilities in eval mode (BatchNorm statistics used, never updated)."""
    model.eval()
    device = next(model.parameters()).device
    xb = torch.from_numpy(x).to(device).contiguous(memory_format=torch.channels_last)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
        return torch.sigmoid(model.logits(xb).float()).cpu().numpy()[:, 0]


def prior_count(rng: np.random.Generator, p: float, most: int) -> int:
    """How many prior clicks a sample gets: geometric with success probability ``p``, less one, at most ``most``.

    The mean is ``1 / p - 1`` before the cap: p=0.3 gives 2.3 clicks (correction network 1.0), p=0.15 5.7.
    """
    return min(int(rng.geometric(p)) - 1, most)


def prior_clicks(
    first: np.ndarray, gt: np.ndarray, count: int, rng: np.random.Generator
) -> tuple[list[Click], np.ndarray]:
    """``count`` clicks placed without the model on an answer a brush corrects at each click; returns the clicks
    and the previous probability: the first answer with the brushed pixels set, or (a share ``REPLAY``) the first
    answer itself, as when a server replays all clicks in one call."""
    pred = first > 0.5
    clicked = np.zeros_like(gt)
    clicks = []
    for _ in range(count):
        c = next_click(pred, gt, clicked, rng, spread=0.3)
        clicks.append(c)
        clicked[c.y, c.x] = True
        pred = brush(pred, gt, c)
    if rng.random() < REPLAY:  # a server replaying every click in one refine() passes the first answer
        return clicks, first
    changed = pred != (first > 0.5)
    return clicks, np.where(changed, pred.astype(np.float32), first)


@dataclass
class ClickedBatch:
    """What a training step gets before the model answers: the drawn samples, their first answers' inputs and
    targets, the prior clicks (input pixels) and previous probabilities, and how many clicks each sample then
    gets on the model's own answers. ``drawn`` is kept only for zoom-in samples (``--focus``)."""

    x4: np.ndarray  # (B, 4, S, S) float32: the first answer's input
    gt: np.ndarray  # (B, S, S) bool
    clicks: list[list[Click]]
    previous: np.ndarray  # (B, S, S) float32
    iterations: np.ndarray  # (B,) int
    drawn: list[Drawn] | None


def clicked_batch(
    patches: list[Patch],
    indices: np.ndarray,
    rng: np.random.Generator,
    aug: Augment,
    geometry: dict[str, float],
    first: FirstAnswer,
    args: argparse.Namespace,
) -> ClickedBatch:
    """The model-free part of a training step: draw the objects, answer them with the first network, place the
    prior clicks, and choose how many iterative clicks each sample gets."""
    drawn = draw_objects(patches, indices, rng, aug, geometry)
    x4 = np.stack([d.x for d in drawn])
    gt = np.stack([d.y > 0.5 for d in drawn])
    p0 = first(x4)
    clicks, prev = [], []
    for k in range(len(x4)):
        count = prior_count(rng, args.prior_p, args.max_prior)
        c, pr = prior_clicks(p0[k], gt[k], count, rng)
        clicks.append(c)
        prev.append(pr)
    iterations = rng.integers(0, args.max_iter + 1, len(x4))
    return ClickedBatch(x4, gt, clicks, np.stack(prev), iterations, drawn if args.focus > 0 else None)


class ClickedBatches(torch.utils.data.Dataset):
    """An epoch's :class:`ClickedBatch` es for DataLoader workers (``--workers``, a GPU machine's cores): batch
    ``step`` is drawn with its own generator, seeded by (seed, epoch, step), so the data do not depend on how many
    workers make them; each worker runs its own one-thread copy of the first network."""

    def __init__(self, patches, order, seed, aug, geometry, args) -> None:
        self.patches, self.order, self.seed = patches, order, seed
        self.aug, self.geometry, self.args = aug, geometry, args
        self.first: FirstAnswer | None = None  # made in each worker: an OpenVINO model is not shared across a fork

    def __len__(self) -> int:
        return math.ceil(len(self.order) / self.args.batch)

    def __getitem__(self, step: int) -> ClickedBatch:
        if self.first is None:
            self.first = FirstAnswer(self.args.first, threads=1)
        rng = np.random.default_rng([*self.seed, step])
        indices = self.order[step * self.args.batch : (step + 1) * self.args.batch]
        return clicked_batch(self.patches, indices, rng, self.aug, self.geometry, self.first, self.args)


def epoch_batches(patches, order, rng, aug, geometry, first, args, epoch):
    """An epoch's (batch, generator for the rest of its step): made here in order from ``rng`` (``--workers 0``,
    the CPU recipe: one generator throughout), or by ``--workers`` processes, each batch and the rest of its step
    from their own seeds."""
    if not args.workers:
        for i in range(0, len(order), args.batch):
            yield clicked_batch(patches, order[i : i + args.batch], rng, aug, geometry, first, args), rng
        return
    data = ClickedBatches(patches, order, [args.seed, epoch], aug, geometry, args)
    for step, batch in enumerate(worker_loader(data, args.workers, collate_fn=_as_is)):
        yield batch, np.random.default_rng([args.seed, epoch, step, 1])


def _as_is(batch: ClickedBatch) -> ClickedBatch:
    return batch


def train(args: argparse.Namespace) -> dict:
    out_dir: Path = args.out
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cpu":
        torch.set_num_threads(args.threads or torch.get_num_threads())
    else:
        torch.backends.cudnn.benchmark = True
    amp = not args.no_amp
    train_patches = load_split(args.cache, "train")
    val_patches = load_split(args.cache, "val")[:: args.val_stride]
    draw = draw_probabilities(train_patches, args)
    first = FirstAnswer(args.first)
    geometry = sample_geometry(args)
    radius = geometry["radius"]

    model = UNet(in_channels=6, base=args.base)
    state = initial_weights(args, torch.device("cpu"))
    if state is not None:
        # new input channels at zero; a narrower start widened to --base, computing the same answers
        model.load_state_dict(widen_unet(widen(state), args.base, seed=args.seed))
    model = model.to(device).to(memory_format=torch.channels_last)
    opt, sched, steps_per_epoch = optimiser(model, args)
    loss_fn = LOSSES[args.loss]
    start_epoch, best, history = 0, -1.0, []
    last = out_dir / "last.pt"
    if args.resume and last.exists():
        ck = torch.load(last, map_location=device, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        start_epoch, best, history = ck["epoch"] + 1, ck["best"], ck["history"]
        print(f"resumed after epoch {ck['epoch']} (best {best:.2f})")
    val = build_val(val_patches, geometry)
    if not history:
        print(json.dumps({"epoch": 0, **validate(model, val, first, amp, radius, baselines=True)}), flush=True)

    aug = QUALITY if args.quality_aug else Augment()
    for epoch in range(start_epoch, args.epochs):
        rng = np.random.default_rng([args.seed, epoch])
        order = epoch_order(rng, len(train_patches), steps_per_epoch * args.batch, draw)
        t0, seen, running_t = time.time(), 0, torch.zeros(())
        batches = epoch_batches(train_patches, order, rng, aug, geometry, first, args, epoch)
        bar = tqdm(batches, total=steps_per_epoch, desc=f"epoch {epoch + 1}/{args.epochs}", mininterval=10, ncols=110)
        for step, (b, rng) in enumerate(bar):
            x4, gt, clicks, prev, iterations = b.x4, b.gt, b.clicks, b.previous, b.iterations
            # clicks on the model's own answers, without gradient (probabilities() puts the model in eval mode)
            for it in range(int(iterations.max()) + 1):
                active = np.flatnonzero(iterations >= it)
                for k in active:
                    clicked = np.zeros_like(gt[k])
                    for c in clicks[k]:
                        clicked[c.y, c.x] = True
                    clicks[k].append(next_click(prev[k] > 0.5, gt[k], clicked, rng, spread=0.3))
                if it == iterations.max():
                    break
                sel = np.flatnonzero(iterations > it)
                if len(sel):
                    xs = np.stack([build_input(x4[k], clicks[k], prev[k], radius) for k in sel])
                    prev[sel] = probabilities(model, xs, amp)
            xs = np.stack([build_input(x4[k], clicks[k], prev[k], radius) for k in range(len(x4))])
            ys = gt.astype(np.float32)
            zoomed = np.flatnonzero(rng.random(len(x4)) < args.focus)
            if len(zoomed):  # the zoom-in: the same last click, answered again in a focus window around it
                answers = probabilities(model, xs[zoomed], amp)
                for k, answer in zip(zoomed, answers):
                    xs[k], ys[k] = focus_input(b.drawn[k], clicks[k], answer, rng, aug, radius)
            model.train()
            if args.freeze_bn:
                freeze_batchnorm(model)
            x = torch.from_numpy(xs).to(device).contiguous(memory_format=torch.channels_last)
            y = torch.from_numpy(ys)[:, None].to(device)
            loss = gradient_step(model, opt, sched, loss_fn, x, y, amp)
            seen += len(x4)
            # the running loss stays on the device: reading it every step would stall a GPU
            running_t = loss.detach() if step == 0 else 0.98 * running_t + 0.02 * loss.detach()
            if step % 10 == 0:
                sps = seen / (time.time() - t0)
                bar.set_postfix(loss=f"{running_t.item():.3f}", sps=f"{sps:.0f}", refresh=False)
        running = running_t.item()
        metrics = validate(model, val, first, amp, radius)
        metrics.update(epoch=epoch + 1, loss=running, seconds=time.time() - t0)
        history.append(metrics)
        print(json.dumps(metrics), flush=True)
        improved = metrics["score"] > best
        best = max(best, metrics["score"])
        ck = checkpoint(model, opt, sched, epoch, best, history, args=vars(args))
        save_epoch(out_dir, ck, model, metrics, args, improved)
    (out_dir / "history.json").write_text(json.dumps(history, indent=1))
    return {"best": best, "history": history}


def build_val(patches: list[Patch], geometry: dict[str, float]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    xs, ys, sources = [], [], []
    for p in patches:
        s = make_sample(p.image, p.mask, None, **geometry)
        if s is not None:
            xs.append(s[0])
            ys.append(s[1] > 0.5)
            sources.append(p.source)
    return np.stack(xs), np.stack(ys), sources


def validate(
    model: UNet,
    val: tuple[np.ndarray, np.ndarray, list[str]],
    first: FirstAnswer,
    amp: bool,
    radius: float,
    baselines: bool = False,
    batch: int = 64,
) -> dict:
    """The protocol at network resolution: IoU after the first answer and after each corrective click."""
    x4, gt, sources = val
    ious = np.zeros((len(x4), VAL_CLICKS + 1))
    brushed = np.zeros_like(ious)
    for i in range(0, len(x4), batch):
        xb, gb = x4[i : i + batch], gt[i : i + batch]
        prev = first(xb)
        clicks: list[list[Click]] = [[] for _ in range(len(xb))]
        brush_pred = [p > 0.5 for p in prev]
        for k in range(len(xb)):
            ious[i + k, 0] = brushed[i + k, 0] = iou(prev[k] > 0.5, gb[k])
        for n in range(1, VAL_CLICKS + 1):
            for k in range(len(xb)):
                clicked = np.zeros_like(gb[k])
                for c in clicks[k]:
                    clicked[c.y, c.x] = True
                clicks[k].append(next_click(prev[k] > 0.5, gb[k], clicked))
                if baselines:
                    brush_pred[k] = brush(brush_pred[k], gb[k], next_click(brush_pred[k], gb[k], clicked))
                    brushed[i + k, n] = iou(brush_pred[k], gb[k])
            prev = probabilities(
                model, np.stack([build_input(xb[k], clicks[k], prev[k], radius) for k in range(len(xb))]), amp
            )
            for k in range(len(xb)):
                ious[i + k, n] = iou(prev[k] > 0.5, gb[k])
    out = summary(ious)
    out["sources"] = {s: summary(ious[np.array(sources) == s]) for s in sorted(set(sources))}
    if baselines:
        out["no_correction"] = summary(np.repeat(ious[:, :1], VAL_CLICKS + 1, 1))
        out["brush"] = summary(brushed)
    return out


def summary(ious: np.ndarray) -> dict:
    """Mean IoU (percent) after each corrective click; NoC@85/90 with the four extreme points as clicks 1-4."""
    mean = 100 * ious.mean(0)
    noc = {
        t: float(np.mean([clicks_to_reach(list(r), t / 100, 4 + VAL_CLICKS, first=4) for r in ious])) for t in (85, 90)
    }
    return {
        "iou_after": [round(float(v), 2) for v in mean],
        "score": float(mean[1 : SCORE_CLICKS + 1].mean()),
        "NoC@85": noc[85],
        "NoC@90": noc[90],
        "objects": len(ious),
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--out", type=Path, default=DEFAULT_CACHE / "run-corrections")
    p.add_argument("--first", type=Path, required=True, help="the first-answer IR (.xml) whose answers are corrected")
    p.add_argument("--max-prior", type=int, default=10, help="most clicks placed without the model per sample")
    p.add_argument(
        "--prior-p",
        type=float,
        default=0.3,
        help="prior clicks per sample are geometric with this p, less one (mean 1/p - 1; 0.3: 2.3 clicks)",
    )
    p.add_argument("--max-iter", type=int, default=2, help="most clicks placed on the model's own answers per sample")
    p.add_argument(
        "--focus",
        type=float,
        default=0.0,
        help="share of samples trained as a zoom-in: the last click answered in a focus window around it",
    )
    p.add_argument(
        "--base",
        type=int,
        default=16,
        help="filters at the U-Net's first level (16: the paper's f); a narrower --init-from is widened to it "
        "computing the same answers (net2wider.py)",
    )
    p.add_argument("--device", default=None, help="torch device (default: cuda where there is one, else cpu)")
    p.add_argument("--val-stride", type=int, default=4, help="validate on every n-th object of the validation cache")
    p.add_argument("--export", type=Path, metavar="XML", help="after training, export the best epoch here (FP16 IR)")
    p.add_argument("--version", default="dev", help="the exported IR's version")
    add_train_arguments(p)
    return p


def main() -> None:
    p = parser()
    args = p.parse_args()
    if not 0.0 < args.prior_p <= 1.0:
        p.error(f"--prior-p must lie in (0, 1], got {args.prior_p}")
    done = args.out / "history.json"
    if not done.exists() or len(json.loads(done.read_text())) < args.epochs:
        train(args)
    if args.export:
        import export

        print(export.export(args.out / "best.pt", args.export, args.version))


if __name__ == "__main__":
    main()
