"""Per-speaker normalisation when a speaker's files hold only one or two emotions.

Standardising each feature within a speaker's files removes the speaker (pitch level, timbre,
microphone), but when the speaker's files hold one or two emotions it removes the emotion
too. This benchmark simulates that on acted corpora and compares normalisation methods:

* cross-corpus (the judge): train on RAVDESS, test on CREMA-D, and the reverse, with 4
  classes (neutral, happy, sad, angry) and 6 (+ fearful, disgust);
* within RAVDESS: 6 actor-grouped folds (``ser.train.evaluate.group_folds``), 8 classes.

The training side is always each training actor's files as one group (what ``fold_data``
does); only the test side's groups change:

``balanced``     each test actor's files are one group (every emotion present);
``2-emo``        each test actor's files split into pseudo-speakers of two emotions each
                 (a random pairing per actor, reproducible);
``1-emo``        one group per actor and emotion (a speaker who was only ever angry);
``1-emo-x4``     one emotion of 4 actors together: a one-emotion group 4x larger (32 files
                 in RAVDESS, about 55 in CREMA-D), as a natural-speech speaker would have;
``mixed-n``      groups as large as the actor's ``1-emo`` groups, emotions mixed at random
                 (the control: what small groups cost without any skew);
``neutral-run``  each actor one group, but only a quarter of each non-neutral emotion's
                 files kept (a mostly neutral run, as natural speech is).

"Run statistics" are the mean and standard deviation of the whole set being normalised: the
whole training corpus on the training side, the whole test corpus on the test side.

Methods (``--methods``): ``none``; ``corpus`` (run statistics); ``speaker`` (each group's own
mean and std, unshrunk); ``speaker@10`` (the same model, groups under 10 files on run
statistics, as ``ser-annotate`` falls back); ``meanonly`` (group mean, run std);
``scaleonly`` (run mean, group std); ``shrink<k>[max<w>]`` (group mean and variance mixed
with the run's, weight n/(n+k) on the group, at most w); ``partial<w>`` (fixed weight w);
``identity-pitch|narrow|wide`` (only F0 level / + MFCC means / + log-mel means and MFCC
percentiles shifted per group, the rest on run statistics); ``proj<r>`` (the group's offset
removed outside an emotion subspace of rank r learnt from the training labels);
``em`` (the group offset estimated net of the emotions a corpus-normalised model predicts);
``A~B`` (test rows by A, model trained with B); ``library:MODE`` (``normalize_groups``).

Features (default feature set, exactly as ``ser.train.dataset._featurise`` computes them) are
extracted once, with joblib, and cached in ``--cache`` (default /tmp/ser-bench/normalisation).
Classifier: the project's StandardScaler + MLPClassifier (hidden 256, alpha 1.0, max_iter 300,
``ser.train.fit.make_estimator``), an ensemble of ``--seeds`` seeds (probabilities averaged).

``--noise`` adds the second study: test clips mixed with pink noise at 20 dB SNR
(``ser.train.augment``), models trained with and without the bundled recipe's augmented
copies (``draw_conditions``, 2 per file).

Usage: python benchmarks/normalisation.py [--jobs 2] [--seeds 3] [--methods a,b] [--noise m,..]
(all default methods with ``--noise corpus,speaker``: about 35 min on 2 busy cores)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SKIP_CREMAD = {  # byte-identical pairs with different labels: both members left out
    "1006_TIE_HAP_XX", "1006_TIE_NEU_XX", "1013_WSI_DIS_XX",
    "1013_WSI_SAD_XX", "1017_IWW_ANG_XX", "1017_IWW_FEA_XX",
}  # fmt: skip
CREMAD_EMOTIONS = {
    "ANG": "angry", "DIS": "disgust", "FEA": "fearful",
    "HAP": "happy", "NEU": "neutral", "SAD": "sad",
}  # fmt: skip
CLASS_SETS = {
    4: ("neutral", "happy", "sad", "angry"),
    6: ("neutral", "happy", "sad", "angry", "fearful", "disgust"),
}
CONDITIONS = ("balanced", "2-emo", "1-emo", "1-emo-x4", "mixed-n", "neutral-run")
_FLOOR = 1e-6


# ----------------------------------------------------------------------------- features


def _featurise(path: str, cond: object | None) -> np.ndarray | None:
    """Default features of one file, optionally through an augmentation condition."""
    from ser.audio.decode import load_audio
    from ser.features.config import feature_config
    from ser.features.extract import extract_features
    from ser.train.augment import apply_condition

    cfg = feature_config("default")
    try:
        y, _ = load_audio(path, sr=cfg.sr, trim=bool(cfg.params.get("trim", True)))
        if cond is not None:
            y = apply_condition(y, cond, sr=cfg.sr, file_key=path)  # type: ignore[arg-type]
        return extract_features(y, config=cfg)
    except Exception as exc:  # one bad file must not stop the benchmark
        print(f"skipping {path}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None


def list_corpus(name: str, root: str) -> tuple[list[str], list[str], list[str]]:
    """(paths, emotions, speakers) of a corpus; RAVDESS speech or CREMA-D."""
    paths, emos, spk = [], [], []
    if name == "ravdess":
        from ser.corpora import parse_ravdess

        for p in sorted(Path(root).glob("Actor_*/*.*")):
            lab = parse_ravdess(p.name)
            if lab is None or lab.vocal_channel != "speech":
                continue
            paths.append(str(p))
            emos.append(lab.emotion)
            spk.append(f"rav{lab.actor:02d}")
    else:
        for p in sorted(Path(root).glob("*/*.flac")):
            parts = p.stem.split("_")
            if p.stem in SKIP_CREMAD or len(parts) != 4 or parts[2] not in CREMAD_EMOTIONS:
                continue
            paths.append(str(p))
            emos.append(CREMAD_EMOTIONS[parts[2]])
            spk.append(f"cre{parts[0]}")
    if not paths:
        raise SystemExit(f"no {name} files under {root!r}")
    return paths, emos, spk


def corpus_features(name: str, root: str, variant: str, args: argparse.Namespace) -> dict:
    """Features of corpus ``name``: ``clean``, ``pink20`` (test noise) or ``aug`` (2 copies)."""
    from joblib import Parallel, delayed

    from ser.train.augment import Condition, draw_conditions

    cache = Path(args.cache) / f"{name}_{variant}.npz"
    if cache.exists():
        d = np.load(cache)
        return {k: d[k] for k in d.files}
    paths, emos, spk = list_corpus(name, root)
    if variant == "clean":
        items = [(p, None) for p in paths]
    elif variant == "pink20":
        pink = Condition(seed=2020, snr_db=20.0, noise_decay=-3.0)
        items = [(p, pink) for p in paths]
    else:  # the bundled recipe's 2 augmented copies, drawn per speaker
        items = [(p, c) for p, s in zip(paths, spk) for c in draw_conditions(0, s, 2)]
    t0 = time.time()
    print(f"extracting {name}/{variant}: {len(items)} rows, {args.jobs} jobs ...", flush=True)
    rows = Parallel(n_jobs=args.jobs, batch_size=32)(delayed(_featurise)(p, c) for p, c in items)
    dim = next(r for r in rows if r is not None).shape[0]
    X = np.stack([r if r is not None else np.full(dim, np.nan, np.float32) for r in rows])
    if variant == "aug":
        X = X.reshape(len(paths), 2, dim)
    ok = ~np.isnan(X.reshape(len(paths), -1)).any(axis=1)
    out = {
        "X": X[ok].astype(np.float32),
        "y": np.array(emos)[ok],
        "speaker": np.array(spk)[ok],
        "path": np.array(paths)[ok],
    }
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, **out)
    print(f"  {ok.sum()} rows in {time.time() - t0:.0f} s -> {cache}", flush=True)
    return out


# ----------------------------------------------------------------------- normalisation


def _std(s: np.ndarray) -> np.ndarray:
    return np.where(s > _FLOOR, s, 1.0)


def _index(groups: np.ndarray) -> dict[object, np.ndarray]:
    return {g: np.flatnonzero(groups == g) for g in dict.fromkeys(groups.tolist())}


def identity_columns(which: str) -> np.ndarray:
    """Columns that carry speaker identity: pitch level and the spectral envelope."""
    from ser.features.config import feature_config
    from ser.features.extract import feature_names

    names = feature_names(feature_config("default"))
    pitch = {"f0_mean", "f0_p10", "f0_p50", "f0_p90"}
    env = {n for n in names if n.startswith("mfcc") and n.endswith("_mean")}
    if which == "pitch":
        env = set()
    if which == "wide":  # + the mel envelope and the mfcc percentiles
        env |= {n for n in names if n.startswith("logmel") and n.endswith("_mean")}
        env |= {n for n in names if n.startswith("mfcc") and n.endswith(("_p10", "_p90"))}
    return np.array([i for i, n in enumerate(names) if n in pitch | env])


def emotion_basis(X: np.ndarray, y: np.ndarray, speakers: np.ndarray, rank: int) -> np.ndarray:
    """Orthonormal rows spanning where emotions differ, from labelled training rows.

    In run-standardised, speaker-centred features: with ``rank`` 0 the span of the class
    means (rank C-1); otherwise the top ``rank`` principal directions of the (speaker, class)
    cell means, which also catch how speakers differ in expressing an emotion.
    """
    Z = (X - X.mean(0)) / _std(X.std(0))
    for rows in _index(speakers).values():
        Z[rows] -= Z[rows].mean(0)
    if rank == 0:
        M = np.stack([Z[y == c].mean(0) for c in np.unique(y)])
        M -= M.mean(0)
        rank = len(M) - 1
    else:
        M = np.stack(
            [Z[(speakers == s) & (y == c)].mean(0)
             for s in np.unique(speakers) for c in np.unique(y)
             if ((speakers == s) & (y == c)).any()]
        )  # fmt: skip
    return np.linalg.svd(M, full_matrices=False)[2][:rank]


def normalise(
    X: np.ndarray, groups: np.ndarray, method: str, basis: dict | None = None
) -> np.ndarray:
    """``X`` normalised by ``method``; run statistics are those of all of ``X``.

    ``basis`` maps a ``proj`` method to its :func:`emotion_basis` (from the training rows).
    """
    X = np.asarray(X, np.float64)
    m_run, s_run = X.mean(0), X.std(0)
    if method == "none":
        return X.copy()
    if method == "corpus":
        return (X - m_run) / _std(s_run)
    if method.startswith("library:"):  # the mode as features/normalize.py implements it
        from ser.features.normalize import normalize_groups

        return normalize_groups(X, list(groups), mode=method.split(":", 1)[1], min_size=1)[0]
    out = np.empty_like(X)
    if method.startswith("identity"):  # identity columns per speaker (shift), rest run
        out[:] = (X - m_run) / _std(s_run)
        cols = identity_columns(method.split("-")[1])
        for rows in _index(groups).values():
            sub = X[np.ix_(rows, cols)]
            out[np.ix_(rows, cols)] = (sub - sub.mean(0)) / _std(s_run[cols])
        return out
    if method.startswith("proj"):  # remove the group's offset outside the emotion subspace
        U = basis[method]  # type: ignore[index]
        Z = (X - m_run) / _std(s_run)
        for rows in _index(groups).values():
            d = Z[rows].mean(0)
            out[rows] = Z[rows] - (d - U.T @ (U @ d))
        return out
    for rows in _index(groups).values():
        Xg = X[rows]
        m_g, s_g = Xg.mean(0), Xg.std(0)
        if method in ("speaker", "speaker@10"):
            if method == "speaker@10" and len(rows) < 10:  # ser-annotate's fall-back rule
                m_g, s_g = m_run, s_run
            out[rows] = (Xg - m_g) / _std(s_g)
        elif method == "meanonly":
            out[rows] = (Xg - m_g) / _std(s_run)
        elif method == "scaleonly":  # run mean, the group's spread
            out[rows] = (Xg - m_run) / _std(s_g)
        elif method.startswith(("shrink", "partial")):
            # shrink<k>[max<w>]: weight n / (n + k) on the group, at most w; partial<w>: w
            if method.startswith("partial"):
                w = float(method[7:])
            else:
                k, _, cap = method[6:].partition("max")
                w = min(len(rows) / (len(rows) + float(k)), float(cap or 1))
            m = w * m_g + (1 - w) * m_run
            v = w * s_g**2 + (1 - w) * s_run**2
            out[rows] = (Xg - m) / _std(np.sqrt(v))
        else:
            raise SystemExit(f"unknown method {method!r}")
    return out


def bases(methods: list[str], X: np.ndarray, y: np.ndarray, speakers: np.ndarray) -> dict:
    """What the ``proj`` and ``em`` methods learn from the labelled training rows."""
    out = {
        m: emotion_basis(X, y, speakers, int(m[4:] or 0)) for m in methods if m.startswith("proj")
    }
    if "em" in methods:  # speaker-centred class means in run-standardised features
        Z = (X - X.mean(0)) / _std(X.std(0))
        for rows in _index(speakers).values():
            Z[rows] -= Z[rows].mean(0)
        out["em"] = np.stack([Z[y == c].mean(0) for c in np.unique(y)])
    return out


#: test-side method -> the methods its models are trained with (itself unless stated)
TRAIN_AS = {"speaker@10": ("speaker",), "em": ("corpus", "meanonly")}


def trained_with(m: str) -> tuple[str, ...]:
    """``A~B``: test rows normalised by A, the model trained with B (a mismatch)."""
    return (m.split("~")[1],) if "~" in m else TRAIN_AS.get(m, (m,))


def predict(
    m: str, get: Callable[[str], list], X: np.ndarray, g: np.ndarray, b: dict
) -> np.ndarray:
    """Predicted labels of test rows ``X`` in groups ``g`` by method ``m``.

    ``em`` (emotion-aware speaker offset, two passes): a group's offset is its mean minus the
    training class offsets weighted by the predicted emotions (first from the corpus-normalised
    model), so a group that is all angry is not centred on angry; the rows minus that offset
    go to the model trained on speaker-centred rows (``meanonly``), whose predictions refine
    the offset once more.
    """
    if m != "em":
        ms = get(trained_with(m)[0])
        Xn = normalise(X, g, m.split("~")[0], b)
        proba = np.mean([k.predict_proba(Xn) for k in ms], 0)
        return ms[0].classes_[proba.argmax(1)]
    Z = normalise(X, g, "corpus")
    ms = get("corpus")
    proba = np.mean([k.predict_proba(Z) for k in ms], 0)
    mc = get("meanonly")
    for _ in range(2):
        out = np.empty_like(Z)
        for rows in _index(g).values():
            d = Z[rows].mean(0) - (proba[rows] @ b["em"]).mean(0)
            out[rows] = Z[rows] - d
        proba = np.mean([k.predict_proba(out) for k in mc], 0)
    return mc[0].classes_[proba.argmax(1)]


# ------------------------------------------------------------------------ conditions


def condition_groups(speakers: np.ndarray, y: np.ndarray, cond: str, seed: int = 0) -> np.ndarray:
    """Normalisation group of each test row under ``cond``."""
    if cond == "balanced":
        return speakers.astype(object)
    if cond == "1-emo":
        return np.array([f"{s}|{e}" for s, e in zip(speakers, y)], dtype=object)
    out = np.empty(len(y), dtype=object)
    if cond == "1-emo-x4":  # one emotion of 4 actors together: a 4x larger one-emotion group
        quad = {s: i // 4 for i, s in enumerate(np.unique(speakers))}
        return np.array([f"{quad[s]}|{e}" for s, e in zip(speakers, y)], dtype=object)
    if cond == "neutral-run":  # mostly neutral, as natural speech: 1/4 of the other files
        out[:] = speakers
        for s in np.unique(speakers):
            for e in set(y) - {"neutral"}:
                rows = np.flatnonzero((speakers == s) & (y == e))
                rng = np.random.default_rng([seed, zlib.crc32(f"{s}|{e}".encode())])
                out[rng.permutation(rows)[len(rows) // 4 :]] = None  # None: left out
        return out
    if cond == "mixed-n":  # as many rows as the actor's 1-emo groups, emotions mixed at random
        for s in np.unique(speakers):
            rows = np.flatnonzero(speakers == s)
            rng = np.random.default_rng([seed, zlib.crc32(str(s).encode())])
            sizes = np.unique(y[rows], return_counts=True)[1]
            label = np.repeat(np.arange(len(sizes)), sizes)
            out[rows[rng.permutation(len(rows))]] = [f"{s}|mix{k}" for k in label]
        return out
    for s in np.unique(speakers):
        rows = np.flatnonzero(speakers == s)
        emos = sorted(set(y[rows]))
        rng = np.random.default_rng([seed, zlib.crc32(str(s).encode())])
        perm = [emos[i] for i in rng.permutation(len(emos))]
        pair = {e: i // 2 for i, e in enumerate(perm)}  # an odd count leaves one alone
        for r in rows:
            out[r] = f"{s}|pair{pair[y[r]]}"
    return out


# ------------------------------------------------------------------------ models


def _fit(X: np.ndarray, y: np.ndarray, seed: int) -> object:
    from threadpoolctl import threadpool_limits

    from ser.train.fit import MLPSettings, make_estimator

    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_estimator(MLPSettings(), seed).fit(X, y)


def fit_all(jobs: list[tuple[str, np.ndarray, np.ndarray]], args: argparse.Namespace) -> dict:
    """Fit ``--seeds`` MLPs per (key, X, y), two processes at a time; key -> [models]."""
    from joblib import Parallel, delayed

    tasks = [(k, X, y, s) for k, X, y in jobs for s in range(args.seeds)]
    models = Parallel(n_jobs=args.jobs)(delayed(_fit)(X, y, s) for _, X, y, s in tasks)
    out: dict[str, list] = {}
    for (k, *_), m in zip(tasks, models):
        out.setdefault(k, []).append(m)
    return out


def uar(models: list, X: np.ndarray, y: np.ndarray, classes: tuple[str, ...]) -> float:
    from ser.models.metrics import score

    proba = np.mean([m.predict_proba(X) for m in models], axis=0)
    pred = models[0].classes_[proba.argmax(1)]
    return float(score(y, pred, list(classes)).uar)


def subset(d: dict, classes: tuple[str, ...]) -> dict:
    keep = np.isin(d["y"], classes)
    return {k: v[keep] for k, v in d.items()}


# ------------------------------------------------------------------------ studies


def cross_corpus(data: dict, methods: list[str], args: argparse.Namespace) -> dict:
    """UAR[method][direction][n_classes][condition], train one corpus, test the other."""
    from ser.models.metrics import score

    directions = {"RAV->CRE": ("ravdess", "cremad"), "CRE->RAV": ("cremad", "ravdess")}
    jobs, B = [], {}
    train_methods = sorted({t for m in methods for t in trained_with(m)})
    for dname, (tr, _) in directions.items():
        for n, classes in CLASS_SETS.items():
            d = subset(data[tr], classes)
            B[dname, n] = b = bases(methods, d["X"], d["y"], d["speaker"])
            for tm in train_methods:
                Xn = normalise(d["X"], d["speaker"], tm, b)
                jobs.append((f"{dname}/{n}/{tm}", Xn, d["y"]))
    t0 = time.time()
    models = fit_all(jobs, args)
    print(f"cross-corpus: {len(jobs) * args.seeds} fits in {time.time() - t0:.0f} s", flush=True)
    res: dict = {}
    for m in methods:
        for dname, (_, te) in directions.items():
            for n, classes in CLASS_SETS.items():
                d = subset(data[te], classes)

                def get(tm: str, dname: str = dname, n: int = n) -> list:
                    return models[f"{dname}/{n}/{tm}"]

                for cond in CONDITIONS:
                    g = condition_groups(d["speaker"], d["y"], cond)
                    k = g != None  # noqa: E711 (rows the condition keeps)
                    pred = predict(m, get, d["X"][k], g[k], B[dname, n])
                    u = float(score(d["y"][k], pred, list(classes)).uar)
                    res.setdefault(m, {}).setdefault(dname, {}).setdefault(n, {})[cond] = u
    return res


def group_folds(speakers: np.ndarray, n_folds: int) -> list[np.ndarray]:
    """Actor-grouped folds as ``ser.train.evaluate.group_folds`` deals them: sorted actors in
    consecutive pairs, round-robin (1,2,13,14 | 3,4,15,16 | ...), so folds mix the sexes."""
    uniq = np.unique(speakers)
    fold_of = (np.arange(len(uniq)) // 2) % n_folds
    return [np.isin(speakers, uniq[fold_of == i]) for i in range(n_folds)]


def ravdess_cv(rav: dict, methods: list[str], args: argparse.Namespace) -> dict:
    """UAR[method][condition]: 6 actor-grouped folds in RAVDESS, 8 classes, pooled."""
    from ser.models.metrics import score

    classes = tuple(sorted(set(rav["y"])))
    folds = group_folds(rav["speaker"], 6)
    train_methods = sorted({t for m in methods for t in trained_with(m)})
    jobs, B = [], []
    for i, test in enumerate(folds):
        B.append(bases(methods, rav["X"][~test], rav["y"][~test], rav["speaker"][~test]))
        for tm in train_methods:
            Xn = normalise(rav["X"][~test], rav["speaker"][~test], tm, B[i])
            jobs.append((f"{i}/{tm}", Xn, rav["y"][~test]))
    t0 = time.time()
    models = fit_all(jobs, args)
    print(f"RAVDESS CV: {len(jobs) * args.seeds} fits in {time.time() - t0:.0f} s", flush=True)
    res: dict = {}
    for m in methods:
        for cond in CONDITIONS:
            pred = np.empty(len(rav["y"]), dtype=object)
            for i, test in enumerate(folds):
                g = condition_groups(rav["speaker"][test], rav["y"][test], cond)
                rows = np.flatnonzero(test)[g != None]  # noqa: E711

                def get(tm: str, i: int = i) -> list:
                    return models[f"{i}/{tm}"]

                pred[rows] = predict(m, get, rav["X"][rows], g[g != None], B[i])  # noqa: E711
            k = pred != None  # noqa: E711
            res.setdefault(m, {})[cond] = float(score(rav["y"][k], pred[k], list(classes)).uar)
    return res


def noise_study(data: dict, methods: list[str], args: argparse.Namespace) -> dict:
    """UAR[method][direction/n][train recipe][test clean|pink20], balanced speakers."""
    noisy = {c: corpus_features(c, args.roots[c], "pink20", args) for c in args.roots}
    aug = {c: corpus_features(c, args.roots[c], "aug", args) for c in args.roots}
    jobs, tests, B = [], {}, {}
    for dname, (tr, te) in {
        "RAV->CRE": ("ravdess", "cremad"),
        "CRE->RAV": ("cremad", "ravdess"),
    }.items():
        for n, classes in CLASS_SETS.items():
            d, a = subset(data[tr], classes), subset(aug[tr], classes)
            assert (d["path"] == a["path"]).all()
            B[dname, n] = b = bases(methods, d["X"], d["y"], d["speaker"])
            for m in methods:
                tm = trained_with(m)[0]
                Xc = normalise(d["X"], d["speaker"], tm, b)
                parts = [Xc] + [
                    normalise(a["X"][:, c], d["speaker"], tm, b) for c in range(a["X"].shape[1])
                ]  # each augmented copy of an actor is a group of its own, as fold_data does
                yy = np.concatenate([d["y"]] * len(parts))
                jobs.append((f"{dname}/{n}/{m}/clean-only", Xc, d["y"]))
                jobs.append((f"{dname}/{n}/{m}/+2 augmented", np.concatenate(parts), yy))
            tests[(dname, n)] = (subset(data[te], classes), subset(noisy[te], classes))
    t0 = time.time()
    models = fit_all(jobs, args)
    print(f"noise: {len(jobs) * args.seeds} fits in {time.time() - t0:.0f} s", flush=True)
    res: dict = {}
    for key, ms in models.items():
        dname, n, m, recipe = key.split("/")
        clean, pink = tests[(dname, int(n))]
        classes = CLASS_SETS[int(n)]
        row = res.setdefault(m, {}).setdefault(f"{dname} {n}c", {}).setdefault(recipe, {})
        for tname, t in (("clean", clean), ("pink 20 dB", pink)):
            Xn = normalise(t["X"], t["speaker"], m, B[dname, int(n)])
            row[tname] = uar(ms, Xn, t["y"], classes)
    return res


# ------------------------------------------------------------------------ report


def print_tables(cc: dict, cv: dict) -> None:
    short = {
        "balanced": "bal", "2-emo": "2emo", "1-emo": "1emo", "1-emo-x4": "1emo4",
        "mixed-n": "mixn", "neutral-run": "neut",
    }  # fmt: skip
    print("\nCross-corpus UAR (ensemble of the seeds) by test-group condition")
    print("  bal: actor = group; 2emo / 1emo: groups of an actor's files of 2 / 1 emotions;")
    print("  1emo4: one emotion of 4 actors together; mixn: groups the size of 1emo, emotions")
    print("  mixed; neut: actor = group, 1/4 of each non-neutral emotion's files (mostly neutral)")
    cells = [(d, n) for d in ("RAV->CRE", "CRE->RAV") for n in CLASS_SETS]
    head = f"{'method':<16}" + "".join(
        f"| {d} {n}c" + " " * (6 * len(CONDITIONS) - len(d) - 4) for d, n in cells
    )
    print(head + "| mean of bal | mean of 1emo")
    print(f"{'':<16}" + f"| {' '.join(f'{short[c]:>5}' for c in CONDITIONS)} " * len(cells))
    for m, r in cc.items():
        row = "".join(f"| {' '.join(f'{r[d][n][c]:5.3f}' for c in CONDITIONS)} " for d, n in cells)
        bal = np.mean([r[d][n]["balanced"] for d, n in cells])
        one = np.mean([r[d][n]["1-emo"] for d, n in cells])
        print(f"{m:<16}{row}| {bal:11.3f} | {one:.3f}")
    if cv:
        print("\nRAVDESS 6-fold actor-grouped CV, 8 classes, pooled UAR (ensemble)")
        print(f"{'method':<16}" + "".join(f"{short[c]:>8}" for c in CONDITIONS))
        for m, r in cv.items():
            print(f"{m:<16}" + "".join(f"{r[c]:8.3f}" for c in CONDITIONS))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    shared = REPO.parent / "shared" / "data"
    ap.add_argument(
        "--ravdess", default=os.environ.get("SER_RAVDESS_DIR", shared / "ravdess-speech")
    )
    ap.add_argument("--cremad", default=os.environ.get("SER_CREMAD_DIR", shared / "crema-d"))
    ap.add_argument("--cache", default="/tmp/ser-bench/normalisation")
    ap.add_argument("--jobs", type=int, default=2, help="processes (extraction and fits)")
    ap.add_argument("--seeds", type=int, default=3, help="MLPs per ensemble (default 3)")
    ap.add_argument(
        "--methods",
        default="none,corpus,speaker,speaker@10,meanonly,shrink10,shrink30,shrink100,"
        "shrink30max0.5,partial0.25,partial0.5,identity-narrow,identity-pitch,proj64,em,"
        "corpus~speaker,speaker~corpus,library:speaker",
        help="comma-separated; 'library:MODE' runs a mode of ser.features.normalize",
    )
    ap.add_argument("--no-cv", action="store_true", help="skip the RAVDESS 8-class CV")
    ap.add_argument("--noise", default="", help="methods for the pink-noise study (e.g. corpus)")
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args()
    args.roots = {"ravdess": str(args.ravdess), "cremad": str(args.cremad)}
    t0 = time.time()
    data = {c: corpus_features(c, args.roots[c], "clean", args) for c in args.roots}
    for c, d in data.items():
        print(f"{c}: {len(d['y'])} files, {len(set(d['speaker']))} speakers", flush=True)
    methods = [m for m in args.methods.split(",") if m]
    cc = cross_corpus(data, methods, args)
    cv = {} if args.no_cv else ravdess_cv(data["ravdess"], methods, args)
    print_tables(cc, cv)
    out = {"cross_corpus": cc, "ravdess_cv_8class": cv, "seeds": args.seeds}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    if args.noise:
        nz = noise_study(data, args.noise.split(","), args)
        print("\nPink noise at 20 dB SNR on the test corpus (balanced speakers), UAR")
        for m, r in nz.items():
            for cell, recipes in r.items():
                for recipe, v in recipes.items():
                    print(
                        f"{m:<12}{cell:<14}{recipe:<15}"
                        + "  ".join(f"{k} {x:.3f}" for k, x in v.items())
                    )
        out["noise"] = nz
    out["seconds"] = round(time.time() - t0)
    print(f"\n{out['seconds']} s in all")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
