"""The body model: stand-in geometry, FK exactness, real-file loading."""

from __future__ import annotations

import pickle
import sys
import types
from collections import Counter

import numpy as np
import pytest
import scipy.sparse
import smplx
import torch
from scipy.spatial.transform import Rotation
from smplx.utils import Struct

from wavecap.body import (
    FOOT_VERTEX_IDS,
    LEAF_VERTEX_IDS,
    SMPL_PARENTS,
    SMPL_REST_JOINTS,
    build_body_model,
    standin_arrays,
)
from wavecap.body.smpl_files import convert_smpl_pickle
from wavecap.errors import BodyModelError


@pytest.fixture(scope="module")
def arrays():
    return standin_arrays()


def test_standin_rest_joints_match_smpl_table(body, arrays):
    assert arrays["v_template"].shape == (6890, 3)
    regressed = arrays["J_regressor"] @ arrays["v_template"]
    assert np.abs(regressed - SMPL_REST_JOINTS).max() < 1e-3
    assert np.abs(body.rest_joints()[0, :24].double().numpy() - SMPL_REST_JOINTS).max() < 1e-3
    assert body.is_standin


def test_standin_weights_and_regressor_are_partitions_of_unity(arrays):
    assert arrays["weights"].min() >= 0
    np.testing.assert_allclose(arrays["weights"].sum(axis=1), 1.0, atol=1e-9)
    assert arrays["J_regressor"].min() >= 0
    np.testing.assert_allclose(arrays["J_regressor"].sum(axis=1), 1.0, atol=1e-9)
    assert arrays["posedirs"].shape == (6890, 3, 207)
    assert list(arrays["kintree_table"][0]) == list(SMPL_PARENTS)


def test_standin_surface_is_closed(arrays):
    edges = Counter()
    for a, b, c in arrays["f"]:
        for u, v in ((a, b), (b, c), (c, a)):
            edges[(min(u, v), max(u, v))] += 1
    assert set(edges.values()) == {2}
    assert len(np.unique(arrays["f"])) == 6890


def test_named_vertices_sit_where_their_names_say(arrays):
    v, joints = arrays["v_template"], SMPL_REST_JOINTS
    head_top, l_mid, r_mid, l_toe, r_toe = (v[i] for i in LEAF_VERTEX_IDS)
    assert head_top[1] > v[:, 1].max() - 0.01  # the top of the head
    assert l_mid[0] > joints[22, 0] + 0.05 and r_mid[0] < joints[23, 0] - 0.05
    assert l_toe[2] > joints[10, 2] + 0.03 and r_toe[2] > joints[11, 2] + 0.03
    for side, ankle in (("left", 7), ("right", 8)):
        heel = v[FOOT_VERTEX_IDS[f"{side}_heel"]]
        assert heel[2] < joints[ankle, 2] - 0.03
    sole = v[:, 1].min()
    assert 0.07 < joints[[7, 8], 1].min() - sole < 0.09
    # smplx's extra-joint vertices are valid indices on the stand-in too.
    for vid in smplx.vertex_ids.vertex_ids["smplh"].values():
        assert 0 <= vid < 6890
    nose = v[smplx.vertex_ids.vertex_ids["smplh"]["nose"]]
    assert nose[2] > joints[15, 2] + 0.05


def test_smplx_default_smpl_runs_on_standin(arrays):
    keys = ("v_template", "f", "weights", "J_regressor", "shapedirs", "posedirs", "kintree_table")
    model = smplx.SMPL(None, data_struct=Struct(**{k: arrays[k] for k in keys}))
    out = model()
    assert out.joints.shape == (1, 45, 3)
    assert torch.isfinite(out.vertices).all()


def _reference_fk(rot: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Independent FK: world rotation and position joint by joint, float64."""
    glob_r = [None] * 24
    pos = np.zeros((24, 3))
    for j, parent in enumerate(SMPL_PARENTS):
        if parent < 0:
            glob_r[j], pos[j] = rot[j], rest[j]
        else:
            glob_r[j] = glob_r[parent] @ rot[j]
            pos[j] = pos[parent] + glob_r[parent] @ (rest[j] - rest[parent])
    return pos


def test_fk_matches_independent_reference(body):
    rng = np.random.default_rng(0)
    for _ in range(8):
        aa = rng.normal(scale=0.6, size=(24, 3))
        betas = rng.normal(size=(1, 10))
        transl = rng.normal(size=(1, 3))
        rest = body.rest_joints(torch.tensor(betas, dtype=torch.float32))[0, :24].double().numpy()
        expected = _reference_fk(Rotation.from_rotvec(aa).as_matrix(), rest) + transl
        out = body(torch.tensor(aa[:1], dtype=torch.float32), torch.tensor(aa[1:].reshape(1, -1), dtype=torch.float32),
                   torch.tensor(betas, dtype=torch.float32), torch.tensor(transl, dtype=torch.float32))
        assert np.abs(out.joints[0].double().numpy() - expected).max() < 1e-5
        # Leaf joints are the posed template vertices, with or without full LBS.
        leaves = out.vertices[0, list(LEAF_VERTEX_IDS)]
        assert torch.allclose(out.joints29[0, 24:], leaves, atol=1e-5)
        fast = body(torch.tensor(aa[:1], dtype=torch.float32), torch.tensor(aa[1:].reshape(1, -1), dtype=torch.float32),
                    torch.tensor(betas, dtype=torch.float32), torch.tensor(transl, dtype=torch.float32),
                    return_vertices=False)
        assert torch.allclose(fast.joints29, out.joints29, atol=1e-6)


def test_rotation_matrix_and_axis_angle_inputs_agree(body):
    aa = torch.randn(3, 24, 3) * 0.5
    mats = torch.tensor(Rotation.from_rotvec(aa.reshape(-1, 3).numpy()).as_matrix(), dtype=torch.float32).reshape(3, 24, 3, 3)
    a = body(aa[:, 0], aa[:, 1:], return_vertices=False)
    b = body(mats[:, 0], mats[:, 1:], return_vertices=False)
    assert torch.allclose(a.joints29, b.joints29, atol=1e-5)


def test_shape_space_has_height_and_girth(body):
    def extent(betas):
        v = body(torch.zeros(1, 3), torch.zeros(1, 69), betas).vertices[0]
        torso = v[(v[:, 1] > -0.2) & (v[:, 1] < 0.0)]
        return (v[:, 1].max() - v[:, 1].min()).item(), (torso[:, 0].max() - torso[:, 0].min()).item(), v[:, 1].min().item()

    base_h, base_w, base_sole = extent(torch.zeros(1, 10))
    tall = torch.zeros(1, 10)
    tall[0, 0] = 2.0
    wide = torch.zeros(1, 10)
    wide[0, 1] = 2.0
    tall_h, _, tall_sole = extent(tall)
    _, wide_w, _ = extent(wide)
    assert tall_h > base_h + 0.1  # ~1.6 m body grows by > 10 cm at beta0 = 2
    assert abs(tall_sole - base_sole) < 1e-4  # stature keeps the feet on the floor
    assert wide_w > base_w + 0.02


def _fake_chumpy_pickle(path, arrays):
    """Write an official-style pickle whose arrays are chumpy objects."""
    chumpy = types.ModuleType("chumpy")
    ch = types.ModuleType("chumpy.ch")

    class Ch:  # what chumpy.ch.Ch pickles as: a class and its __dict__
        def __init__(self, x):
            self.x = x
            self.dterms = []

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    ch.Ch = Ch
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = chumpy, ch
    try:
        content = {
            "v_template": Ch(arrays["v_template"]),
            "shapedirs": Ch(arrays["shapedirs"]),
            "posedirs": arrays["posedirs"],
            "J_regressor": scipy.sparse.csc_matrix(arrays["J_regressor"]),
            "weights": Ch(arrays["weights"]),
            "kintree_table": arrays["kintree_table"],
            "f": arrays["f"].astype(np.uint32),
            "bs_style": "lbs",
            "J": Ch(SMPL_REST_JOINTS),
        }
        with open(path, "wb") as handle:
            pickle.dump(content, handle, protocol=2)
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]


def test_chumpy_pickle_converts_and_loads_without_chumpy(tmp_path, arrays, body):
    src = tmp_path / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"
    _fake_chumpy_pickle(src, arrays)
    before = src.read_bytes()
    dst = convert_smpl_pickle(src, tmp_path / "SMPL_NEUTRAL.npz")
    assert src.read_bytes() == before  # the user's file is only read
    assert "chumpy" not in sys.modules
    for source in (dst, tmp_path, src):
        real = build_body_model(str(source))
        assert real.tag == "smpl" and not real.is_standin
        aa = torch.randn(2, 24, 3) * 0.3
        a = real(aa[:, 0], aa[:, 1:])
        b = body(aa[:, 0], aa[:, 1:])
        assert torch.allclose(a.vertices, b.vertices, atol=1e-5)


def test_missing_or_wrong_model_files_raise_body_model_error(tmp_path):
    with pytest.raises(BodyModelError, match="no SMPL neutral model"):
        build_body_model(str(tmp_path))
    bad = tmp_path / "SMPL_NEUTRAL.pkl"
    bad.write_bytes(b"not a pickle")
    with pytest.raises(BodyModelError, match="SMPL_NEUTRAL.pkl"):
        build_body_model(str(bad))
    np.savez(tmp_path / "partial.npz", v_template=np.zeros((10, 3)))
    with pytest.raises(BodyModelError, match="keys missing"):
        build_body_model(str(tmp_path / "partial.npz"))
