"""The training library: :func:`train_to_file`, the counterpart of ``annotate_to_file``.

Everything that can be wrong with the arguments (unknown emotion or choice, bad hidden sizes,
more folds than actors, an output that cannot or may not be written...) is checked and raised
as a :class:`~ser.common.errors.DataError` *before* any feature is extracted; then the model
is trained (:func:`~.fit.train_model`), saved atomically, and its JSON card is written beside
it (:func:`.card.write_card`).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ser.common.choices import resolve_jobs
from ser.common.errors import DataError
from ser.common.ownedfiles import check_writable_folder
from ser.corpora import (
    LabelledCorpus,
    Source,
    load_labelled,
    parse_label_map,
    parse_source,
    validate_subset,
)
from ser.models.metrics import Scores

from .card import write_card
from .classifiers import check_saveable, parse_classifiers
from .compare import ClassifierRun
from .crosscorpus import CorpusResult
from .dataset import labelled_files
from .fit import MLPSettings, TrainResult, check_arguments, parse_hidden, train_model

__all__ = ["SavedModel", "command_line", "train_to_file"]

logger = logging.getLogger(__name__)

PathArg = str | os.PathLike[str]


@dataclass(frozen=True)
class SavedModel:
    """What :func:`train_to_file` wrote: the model file, its card, and how it was trained."""

    model_path: Path
    card_path: Path
    sha256: str  # of the model file
    result: TrainResult  # the model, the cross-validation results, the dataset
    seconds: float
    report_path: Path | None = None  # the HTML report, when one was asked for


def train_to_file(
    data: PathArg | Sequence[PathArg] = (),
    *,
    out: PathArg,
    labels: Sequence[PathArg] = (),
    features_out: PathArg | None = None,
    mapping: Mapping[str, str] | Sequence[str] = (),
    speaker_from: str | None = None,
    overwrite: bool = False,
    subset: str | Iterable[str] | None = None,
    include_song: bool = False,
    features: str = "default",
    normalize: str = "speaker",
    augment: int = 0,
    hidden: str | Sequence[int] = (256,),
    alpha: float = 1.0,
    ensemble: int = 3,
    tune: bool = False,
    folds: int = 6,
    repeat: int = 1,
    evaluate: str = "cv",
    classifier: str = "mlp",
    compare_classifiers: str | Sequence[str] = (),
    report: PathArg | None = None,
    jobs: int | None = None,
    seed: int = 0,
    command: str | None = None,
    on_sources: Callable[[LabelledCorpus], None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    on_fold: Callable[[int, int, Scores], None] | None = None,
    on_corpus: Callable[[CorpusResult], None] | None = None,
    on_compared: Callable[[ClassifierRun], None] | None = None,
) -> SavedModel:
    """Train a model on labelled corpora, save it to ``out`` with its card.

    Parameters
    ----------
    data : path or sequence of paths
        Labelled corpora, one per path: a RAVDESS or CREMA-D folder (recognised by its file
        names), a folder per emotion, or a labels table (see :func:`ser.corpora.load_labelled`);
        ``KIND=PATH`` names the kind (``crema-d:perceived=PATH`` for CREMA-D's perceived
        labels; :func:`ser.corpora.parse_source`).
    out : path ending in .skops
        Model file, written atomically; the card goes beside it (``out`` with suffix
        ``.json``). Its folder must exist and be writable.
    labels : sequence of paths
        Labels tables (``.csv``/``.parquet``; columns ``path``, ``emotion``, optional
        ``speaker``), each one source.
    features_out : path ending in .parquet or .csv, optional
        Also write the training features (clean copies): columns ``path``, ``source``,
        ``speaker``, ``emotion``, then one named column per feature
        (:func:`ser.features.table.features_table`). Replaced only with ``overwrite``.
    mapping : mapping or sequence of "OLD=NEW"
        Labels to read as another emotion (``"drop"`` leaves them out), before synonyms
        (:func:`ser.corpora.parse_label_map`).
    speaker_from : str, optional
        Speaker rule for every source (``"parent"``, ``"none"`` or a regular expression);
        default each corpus' convention or the table's ``speaker`` column.
    overwrite : bool
        Replace an existing model file or card; without it either one is an error.
    subset : str or iterable of str, optional
        Emotions to learn, e.g. ``"neutral,angry,sad,happy"``; default every emotion found.
    include_song : bool
        Also use RAVDESS song files.
    features : {"default", "seed"}
    normalize : {"none", "corpus", "speaker"}
        Feature normalisation, per speaker, per corpus, or none.
    augment : int >= 0
        Augmented copies of each training file (training folds only).
    hidden : str or sequence of int >= 1
        Hidden layer sizes, e.g. ``"256,128"`` or ``(256, 128)``.
    alpha : float >= 0
        L2 penalty of the MLPs.
    ensemble : int >= 1
        MLPs with different seeds whose probabilities are averaged.
    tune : bool
        Choose the hyperparameters by nested speaker-grouped cross-validation.
    folds : int, 2 <= folds <= number of speakers
        Cross-validation folds, grouped by speaker.
    repeat : int >= 1
        Cross-validation runs with seeds ``seed, seed+1, ...``.
    evaluate : {"cv", "corpus", "none"}
        Cross-validation (which also fits the calibration map); that and
        leave-one-corpus-out; or the final fit only.
    classifier : {"mlp", "knn"}
        The saved model's classifier (:mod:`.classifiers`); the MLP options (``hidden``,
        ``alpha``, ``ensemble``, ``tune``) apply to ``mlp`` only.
    compare_classifiers : str or sequence of str
        Also cross-validate these classifiers (``"knn,svm,tree,forest,mlp"`` or ``"all"``)
        with the same folds and features (:mod:`.compare`); the saved model is unchanged.
    report : path ending in .html, optional
        Also write an HTML report of the run (:func:`ser.report.training_report`);
        checked before any work, replaced only with ``overwrite``.
    jobs : int, optional
        Feature-extraction workers; ``None`` or ``-1`` every usable core, capped at them
        (:func:`~ser.common.choices.resolve_jobs`).
    seed : int
    command : str, optional
        The command line to record in the card (``ser-train`` passes its own).
    on_sources : callable(LabelledCorpus), optional
        Called with the training files found, before any feature is extracted.
    on_progress : callable(done, total), optional
        Called with ``done=0`` once every check passed and extraction starts, then as files
        are done.
    on_fold : callable(seed_index, fold_index, scores), optional
        Called after each cross-validation fold.
    on_corpus : callable(CorpusResult), optional
        Called after each leave-one-corpus-out split.
    on_compared : callable(ClassifierRun), optional
        Called after each classifier of ``compare_classifiers``.

    Returns
    -------
    SavedModel

    Raises
    ------
    DataError
        For any bad argument, source or output path, before any feature is extracted.
    SerError, OSError
        When training or writing fails later.
    """
    t0 = time.perf_counter()
    emotions = validate_subset(subset) if subset is not None else None
    check_arguments(
        features=features, normalization=normalize, folds=folds, repeat=repeat, augment=augment
    )
    settings = MLPSettings(hidden=parse_hidden(hidden), alpha=alpha, ensemble=ensemble)
    check_saveable(classifier)
    compared = parse_classifiers(compare_classifiers) if compare_classifiers else ()
    n_jobs = resolve_jobs(jobs)
    model_path, card_path = check_out(out, overwrite=overwrite)
    if features_out is not None:
        _check_features_out(Path(features_out), overwrite=overwrite)
    report_path = None
    if report is not None:
        from ser.report import check_report_path

        report_path = check_report_path(report, overwrite=overwrite)
        if report_path.absolute() in (model_path.absolute(), card_path.absolute()):
            raise DataError(f"--report {str(report_path)!r} is the model file or its card")
    paths = [data] if isinstance(data, (str, os.PathLike)) else list(data)
    corpus = load_labelled(
        [parse_source(os.fspath(p)) for p in paths] + [Source(p, "table") for p in labels],
        subset=emotions,
        mapping=dict(mapping) if isinstance(mapping, Mapping) else parse_label_map(mapping),
        speaker_from=speaker_from,
        include_song=include_song,
    )
    _check_speakers(corpus, evaluate=evaluate, tune=tune)
    if on_sources is not None:
        on_sources(corpus)
    files = labelled_files(corpus)
    result = train_model(
        files,
        features=features,
        folds=folds,
        jobs=n_jobs,
        seed=seed,
        repeat=repeat,
        normalization=normalize,
        augment=augment,
        settings=settings,
        evaluate=evaluate,
        tune=tune,
        name=model_path.stem,
        classifier=classifier,
        compare=compared,
        on_progress=on_progress,
        on_fold=on_fold,
        on_corpus=on_corpus,
        on_compared=on_compared,
    )
    result.info["corpus"] = corpus
    result.info["command"] = command
    from ser.models.model import save_model

    sha = save_model(result.model, model_path)
    write_card(result, model_path, sha256=sha, command=command)
    if features_out is not None:
        _write_features(result, Path(features_out), sha256=sha)
    seconds = time.perf_counter() - t0
    logger.info("wrote %s and %s in %.1f s", model_path, card_path, seconds)
    saved = SavedModel(model_path, card_path, sha, result, seconds, report_path)
    if report_path is not None:
        from ser.report import training_report

        training_report(saved, report_path)
    return saved


def _check_speakers(corpus: LabelledCorpus, *, evaluate: str, tune: bool) -> None:
    """Speaker-grouped evaluation needs every clip's speaker: refuse clips without one."""
    if corpus.unknown_speaker and (evaluate != "none" or tune):
        where = sorted({c.source for c in corpus.clips if c.speaker is None})
        raise DataError(
            f"{corpus.unknown_speaker} clips ({', '.join(where)}) have no speaker, and "
            "evaluation is grouped by speaker so that no speaker is in both training and test: "
            "give a speaker column or --speaker-from RULE (e.g. parent, or a regular "
            "expression), or pass --evaluate none"
        )


def _check_features_out(path: Path, *, overwrite: bool) -> None:
    from ser.features.table import FEATURES_TABLE_SUFFIXES

    if path.suffix.lower() not in FEATURES_TABLE_SUFFIXES:
        raise DataError(f"--features-out must end in .parquet or .csv, got {str(path)!r}")
    if not path.absolute().parent.is_dir():
        raise DataError(f"--features-out: the folder of {str(path)!r} does not exist")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise DataError(f"{str(path)!r} already exists; --overwrite replaces it")


def _write_features(result: TrainResult, path: Path, *, sha256: str) -> None:
    from ser.features.table import features_table, write_features_table

    ds = result.dataset
    table = features_table(
        ds.X,
        result.model.features,
        {
            "path": ds.paths,
            "source": ds.sources.tolist(),
            "speaker": ds.groups.tolist(),
            "emotion": ds.y.tolist(),
        },
        metadata={"ser.model_sha256": sha256, "ser.model_name": result.model.name},
    )
    write_features_table(table, path)


def check_out(out: PathArg, *, overwrite: bool) -> tuple[Path, Path]:
    """The model file and card paths for ``out``, if they may be written.

    Raises
    ------
    DataError
        When ``out`` does not end in ``.skops``, is a folder, its folder is missing or not
        writable, or the model file or card exists and ``overwrite`` is false.
    """
    path = Path(out)
    if path.suffix != ".skops":
        raise DataError(f"--out must end in .skops, got {str(path)!r}")
    card = path.with_suffix(".json")
    for p in (path, card):
        check_writable_folder(p, option="--out", example="m.skops")
    existing = [str(p) for p in (path, card) if p.exists() or p.is_symlink()]
    if existing and not overwrite:
        raise DataError(
            f"{' and '.join(map(repr, existing))} already exist"
            f"{'s' if len(existing) == 1 else ''}; --overwrite replaces "
            f"{'it' if len(existing) == 1 else 'them'}"
        )
    return path, card


def command_line() -> str:
    """The command as the user would type it (``python -m ser.train`` shows as ser-train)."""
    prog = Path(sys.argv[0]).name
    if prog in ("__main__.py", "cli.py", "-c", ""):
        prog = "ser-train"
    return " ".join([prog, *sys.argv[1:]])
