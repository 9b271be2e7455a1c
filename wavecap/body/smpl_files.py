"""Reading SMPL model files without chumpy.

Official SMPL pickles hold chumpy arrays and a scipy.sparse J_regressor.
chumpy does not import on numpy >= 1.24 or Python >= 3.11, so the unpickler
below replaces every chumpy class by a placeholder that keeps the pickled
state, and the arrays are taken from that state. The result is written as a
plain ``.npz`` that smplx loads through ``data_struct``.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from wavecap.errors import BodyModelError

# Keys smplx reads from a model file; the rest of an official pickle is dropped.
SMPL_KEYS = ("v_template", "f", "weights", "J_regressor", "shapedirs", "posedirs", "kintree_table")


class _ChumpyPlaceholder:
    """Stands in for any chumpy class; remembers what was pickled."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.args = args
        self.state: object = None

    def __setstate__(self, state: object) -> None:
        self.state = state


class _ChumpyFreeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> type:
        if module == "chumpy" or module.startswith("chumpy."):
            return _ChumpyPlaceholder
        return super().find_class(module, name)


def _as_array(key: str, value: object, path: str) -> np.ndarray:
    if isinstance(value, _ChumpyPlaceholder):
        state = value.state
        # A terminal chumpy array keeps its value in 'x'.
        if isinstance(state, dict) and "x" in state:
            return np.asarray(state["x"])
        raise BodyModelError(
            f"{path}: key '{key}' is a derived chumpy expression ({type(state).__name__}); "
            "only stored chumpy arrays can be converted without chumpy"
        )
    if hasattr(value, "toarray"):  # scipy.sparse J_regressor
        return np.asarray(value.toarray())
    return np.asarray(value)


def read_smpl_pickle(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read an SMPL ``.pkl`` (official chumpy style or clean) into numpy arrays.

    Args:
        path: the model pickle, e.g. ``basicModel_neutral_lbs_10_207_0_v1.0.0.pkl``.

    Returns:
        The arrays smplx needs (:data:`SMPL_KEYS`), dense, as numpy.

    Raises:
        BodyModelError: unreadable file, missing key, or an array that needs
            chumpy to evaluate.
    """
    path = str(path)
    try:
        with open(path, "rb") as handle:
            raw = _ChumpyFreeUnpickler(handle, encoding="latin1").load()
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError) as err:
        raise BodyModelError(f"{path}: cannot read SMPL pickle ({err})") from err
    if not isinstance(raw, dict):
        raise BodyModelError(f"{path}: expected a dict of model arrays, found {type(raw).__name__}")
    missing = [key for key in SMPL_KEYS if key not in raw]
    if missing:
        raise BodyModelError(f"{path}: SMPL keys missing: {', '.join(missing)}")
    return {key: _as_array(key, raw[key], path) for key in SMPL_KEYS}


def convert_smpl_pickle(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Convert an SMPL pickle to a chumpy-free ``.npz`` (written atomically).

    Returns:
        The path written. The source file is only read.
    """
    arrays = read_smpl_pickle(src)
    dst = Path(dst)
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}.npz")
    np.savez_compressed(tmp, body_model=np.array("smpl"), **arrays)
    os.replace(tmp, dst)
    return dst


def load_smpl_arrays(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load model arrays from an SMPL ``.npz`` or ``.pkl`` file.

    Raises:
        BodyModelError: the file is missing, unreadable or lacks SMPL keys.
    """
    path = Path(path)
    if not path.is_file():
        raise BodyModelError(f"{path}: no such SMPL model file")
    if path.suffix == ".pkl":
        return read_smpl_pickle(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as err:
        raise BodyModelError(f"{path}: cannot read SMPL npz ({err})") from err
    missing = [key for key in SMPL_KEYS if key not in arrays]
    if missing:
        raise BodyModelError(f"{path}: SMPL keys missing: {', '.join(missing)}")
    return arrays


def find_smpl_file(directory: str | os.PathLike, gender: str = "neutral") -> Path:
    """Find a model file of ``gender`` in a user's SMPL folder.

    Looks for ``SMPL_<GENDER>.npz``, then ``.pkl``, then the official
    ``basicModel_<g>_lbs_10_207_0_v1.*.pkl`` names, also under ``smpl/``.
    """
    directory = Path(directory)
    names = [f"SMPL_{gender.upper()}.npz", f"SMPL_{gender.upper()}.pkl"]
    short = {"neutral": "neutral", "male": "m", "female": "f"}.get(gender.lower(), gender)
    for folder in (directory, directory / "smpl"):
        for name in names:
            if (folder / name).is_file():
                return folder / name
        official = sorted(folder.glob(f"basicModel_{short}_lbs_10_207_0_v1.*.pkl")) if folder.is_dir() else []
        if official:
            return official[-1]
    raise BodyModelError(f"{directory}: no SMPL {gender} model found (looked for {', '.join(names)})")
