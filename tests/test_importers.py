"""Importers: each format's fixture (built here, no downloads) becomes a validated session plus report."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wavecap.datasets import open_session, validate_session
from wavecap.datasets.importers import (
    CameraOptions,
    KeypointOptions,
    RadarOptions,
    import_capture,
    import_images,
    import_mmbody,
    import_mmfi,
    import_ti_csv,
    import_video,
    report_path,
)
from wavecap.errors import DataError
from wavecap.skeletons import get_skeleton, skeleton_from_smpl

REPO = Path(__file__).resolve().parents[1]
TI_HEADER = "Frame #,# Obj,X,Y,Z,Doppler,Intensity,Abs Time"
KINECT = get_skeleton("kinect_v2")
T0 = 1_692_871_261.0  # epoch seconds, as host clocks write them


def ti_rows(rng: np.random.Generator, n_frames: int = 40, skip: tuple[int, ...] = (6,), marker: int = 9,
            nan_frame: int = 12, rate: float = 10.0) -> tuple[list[str], dict[int, np.ndarray]]:
    """TI CSV lines (no header) and the points of each frame number.

    Frame numbers start at 100; frames in ``skip`` have no rows (no detections),
    ``marker`` has one row with ``# Obj`` = 0, ``nan_frame`` one extra NaN row.
    """
    lines, points = [], {}
    for k in range(n_frames):
        frame = 100 + k
        t = T0 + k / rate + rng.normal(0, 0.002)
        if k in skip:
            points[frame] = np.zeros((0, 5))
            continue
        if k == marker:
            lines.append(f"{frame},0,,,,,,{t:.4f}")
            points[frame] = np.zeros((0, 5))
            continue
        n = int(rng.integers(1, 8))
        p = np.column_stack([rng.normal(0, 0.3, n), rng.uniform(1.5, 4.0, n), rng.normal(0, 0.5, n),
                             rng.normal(0, 1, n), rng.uniform(5, 40, n)]).round(4)
        points[frame] = p
        count = n + (k == nan_frame)
        lines += [f"{frame},{count}," + ",".join(f"{v:.4f}" for v in row) + f",{t:.4f}" for row in p]
        if k == nan_frame:
            lines.append(f"{frame},{count},nan,1.0,0.2,0.1,9.0,{t:.4f}")
    return lines, points


def write_ti(path: Path, lines: list[str], header: str | None = TI_HEADER) -> Path:
    path.write_text(("" if header is None else header + "\n") + "\n".join(lines) + "\n")
    return path


def kinect_positions(n_frames: int, seed: int = 0, walk: np.ndarray | None = None) -> np.ndarray:
    """(T, 25, 3) plausible Kinect joints (z up, metres) from the SMPL rest skeleton, moving along ``walk``
    ((T, 3) pelvis path; default: forward in y)."""
    from wavecap.body import build_body_model
    import torch

    model = build_body_model("stand-in")
    with torch.no_grad():
        rest = model(torch.tensor([[np.pi / 2, 0.0, 0.0]]), torch.zeros(1, 69), torch.zeros(1, 10),
                     torch.zeros(1, 3), return_vertices=False).joints29[0].double().numpy()
    rng = np.random.default_rng(seed)
    kp = skeleton_from_smpl(rest, "kinect_v2")
    if walk is None:
        walk = np.stack([np.zeros(n_frames), 2.0 + 0.05 * np.arange(n_frames), np.full(n_frames, 1.0)], 1)
    return kp[None] + walk[:, None] + rng.normal(0, 0.005, (n_frames, 25, 3))


def write_kinect(path: Path, positions: np.ndarray, frames: np.ndarray | None, layout: str = "blocks",
                 scale: float = 1.0, states: np.ndarray | None = None) -> Path:
    names = KINECT.joint_names
    if layout == "blocks":
        cols = [f"{j}_{a}" for a in "XYZ" for j in names]
        values = positions.transpose(0, 2, 1).reshape(len(positions), -1)
    else:
        cols = [f"{j}_{a}" for j in names for a in "XYZ"]
        values = positions.reshape(len(positions), -1)
    values = values * scale
    if states is not None:
        cols += [f"{j}_TrackingState" for j in names]
        values = np.concatenate([values, states], axis=1)
    if frames is not None:
        cols, values = ["Frame"] + cols, np.concatenate([frames[:, None], values], axis=1)
    lines = [",".join(cols)] + [",".join(f"{v:.6g}" for v in row) for row in values]
    path.write_text("\n".join(lines) + "\n")
    return path


# -- TI CSV ---------------------------------------------------------------------------------------


def test_ti_csv_keeps_empty_frames_drops_nan_rows_and_reports(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    lines, points = ti_rows(rng)
    csv_path = write_ti(tmp_path / "radar.csv", lines)
    before = csv_path.read_bytes(), csv_path.stat().st_mtime_ns
    out = tmp_path / "s.h5"
    report = import_ti_csv(csv_path, out)
    assert (csv_path.read_bytes(), csv_path.stat().st_mtime_ns) == before  # input untouched
    with open_session(out, validate="full") as s:
        radar = s.radar
        assert len(radar) == 40 and radar.columns == ("x", "y", "z", "doppler", "snr")  # TI's Intensity is an SNR
        for i, frame in enumerate(sorted(points)):
            np.testing.assert_allclose(radar.frame(i), points[frame], atol=1e-5)
        assert radar.config["doppler_sign"] == "positive_away"
        assert abs(radar.config["file_time_origin_s"] - T0) < 0.01
        # times from the file (jitter 2 ms): frame k at ~k / 10 s, the skipped frame interpolated
        np.testing.assert_allclose(radar.timestamps, np.arange(40) / 10.0, atol=0.01)
    figures = json.loads(Path(report_path(out)).read_text())["streams"]["/radar"]
    assert figures["empty_frames"] == 2 and figures["rows_dropped_nonfinite"] == 1
    assert figures["empty_frame_marker_rows"] == 1 and figures["frames_without_rows"] == 1
    counts = [len(points[f]) for f in sorted(points)]
    assert figures["points_per_frame"] == {"min": 0, "mean": round(float(np.mean(counts)), 3), "max": max(counts)}
    assert figures["timestamps"] == "file" and figures["gaps"] == 0
    assert figures["session_validation"] == "full: ok"
    assert report.assumptions["radar.units"].startswith("m ")
    assert "stored as snr" in report.assumptions["radar.snr"]


def test_ti_csv_timestamps_synthesised_when_missing_or_coarse(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    lines, _ = ti_rows(rng, skip=(), marker=-1, nan_frame=-1)
    no_time = [line.rsplit(",", 1)[0] for line in lines]
    report = import_ti_csv(write_ti(tmp_path / "a.csv", no_time, TI_HEADER.rsplit(",", 1)[0]), tmp_path / "a.h5",
                           radar_options=RadarOptions(frame_rate_hz=20.0))
    assert any("synthesised at 20 Hz" in w for w in report.warnings)
    with open_session(tmp_path / "a.h5") as s:
        np.testing.assert_allclose(s.radar.timestamps, np.arange(40) / 20.0)
    # whole seconds at 10 Hz repeat values: not precise enough
    coarse = [line.rsplit(",", 1)[0] + f",{np.floor(float(line.rsplit(',', 1)[1])):.0f}" for line in lines]
    report = import_ti_csv(write_ti(tmp_path / "b.csv", coarse), tmp_path / "b.h5")
    assert any("do not increase" in w for w in report.warnings)
    # milliseconds are recognised from the frame period
    ms = [line.rsplit(",", 1)[0] + f",{(float(line.rsplit(',', 1)[1]) - T0) * 1e3:.1f}" for line in lines]
    report = import_ti_csv(write_ti(tmp_path / "c.csv", ms), tmp_path / "c.h5")
    assert "in ms" in report.assumptions["radar.timestamps"] and not report.warnings


def test_ti_csv_units_columns_and_headerless(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    lines, points = ti_rows(rng, skip=(), marker=-1, nan_frame=-1)
    mm = []
    for line in lines:
        f = line.split(",")
        mm.append(",".join(f[:2] + [f"{float(v) * 1000:.1f}" for v in f[2:5]] + f[5:]))
    report = import_ti_csv(write_ti(tmp_path / "mm.csv", mm), tmp_path / "mm.h5")
    assert any("from mm to m" in w for w in report.warnings)
    with open_session(tmp_path / "mm.h5") as s:
        np.testing.assert_allclose(s.radar.frame(3)[:, :3], points[103][:, :3], atol=1e-4)
    cm = [",".join(line.split(",")[:2] + [f"{float(v) * 100:.3f}" for v in line.split(",")[2:5]]
                   + line.split(",")[5:]) for line in lines]
    with pytest.raises(DataError, match="radar_options.units"):
        import_ti_csv(write_ti(tmp_path / "cm.csv", cm), tmp_path / "cm.h5")  # 150-400: m or mm? refuse
    import_ti_csv(tmp_path / "cm.csv", tmp_path / "cm.h5", radar_options=RadarOptions(units="cm"))
    renamed = write_ti(tmp_path / "r.csv", lines, "Frame,NumObj,PosX,PosY,PosZ,Vel,Peak,Stamp")
    with pytest.raises(DataError, match="override x='nope' names no column"):
        import_ti_csv(renamed, tmp_path / "r.h5", radar_options=RadarOptions(columns={"x": "nope"}))
    report = import_ti_csv(renamed, tmp_path / "r.h5")  # Peak and Stamp are not known names
    assert report.streams["/radar"]["ignored_columns"] == ["Peak", "Stamp"]
    assert report.streams["/radar"]["timestamps"].startswith("synthesised")
    report = import_ti_csv(renamed, tmp_path / "r.h5", overwrite=True,
                           radar_options=RadarOptions(columns={"intensity": "Peak", "time": 7}))
    assert report.streams["/radar"]["timestamps"] == "file"
    with open_session(tmp_path / "r.h5") as s:
        assert s.radar.columns == ("x", "y", "z", "doppler", "intensity")
    import_ti_csv(write_ti(tmp_path / "h.csv", lines, None), tmp_path / "h.h5")  # TI's column order
    with open_session(tmp_path / "h.h5") as s:
        np.testing.assert_allclose(s.radar.frame(0), points[100], atol=1e-5)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda ls: ls[:3] + [ls[3].replace(",", ",abc", 1)] + ls[4:], r"line 5: .*abc.*not a number.*field=# Obj"),
        (lambda ls: ls[:4] + [ls[4] + ",7"] + ls[5:], r"line 6: 9 fields, expected 8"),
        (lambda ls: ls[:5] + ["99" + ls[5][ls[5].index(","):]] + ls[6:], r"line 7: frame number goes back"),
        (lambda ls: ls[:2] + ["100.5" + ls[2][ls[2].index(","):]] + ls[3:], r"line 4: frame number 100.5"),
        (lambda ls: ls[:2] + ["9000" + ls[2][ls[2].index(","):]] + ls[3:], r"jumps from 100 to 9000"),
    ],
)
def test_ti_csv_refuses_with_line_and_column(tmp_path: Path, edit, message: str) -> None:  # noqa: ANN001
    lines, _ = ti_rows(np.random.default_rng(3), skip=(), marker=-1, nan_frame=-1)
    with pytest.raises(DataError, match=message):
        import_ti_csv(write_ti(tmp_path / "bad.csv", edit(lines)), tmp_path / "bad.h5")
    assert not (tmp_path / "bad.h5").exists()


def test_numpy_and_pandas_parsers_agree(tmp_path: Path) -> None:
    pytest.importorskip("pandas", reason="pandas (the fast-csv extra) is not installed")
    lines, _ = ti_rows(np.random.default_rng(4))
    path = write_ti(tmp_path / "r.csv", lines)
    for parser in ("numpy", "pandas"):
        import_ti_csv(path, tmp_path / f"{parser}.h5", radar_options=RadarOptions(parser=parser))
    with open_session(tmp_path / "numpy.h5") as a, open_session(tmp_path / "pandas.h5") as b:
        np.testing.assert_array_equal(a.radar.timestamps, b.radar.timestamps)
        np.testing.assert_array_equal(a.radar.offsets, b.radar.offsets)
        for i in range(len(a.radar)):
            np.testing.assert_array_equal(a.radar.frame(i), b.radar.frame(i))


@pytest.mark.parametrize("parser", ["numpy", "pandas"])
def test_large_files_are_parsed_from_disk_like_small_ones(tmp_path: Path, parser: str) -> None:
    """Files past the 64 KiB head go to the C parser straight from disk: same values, same line numbers."""
    if parser == "pandas":
        pytest.importorskip("pandas", reason="pandas (the fast-csv extra) is not installed")
    from wavecap.datasets.importers.csv_table import HEAD_BYTES, read_csv_table

    lines, _ = ti_rows(np.random.default_rng(8), n_frames=1500, skip=(), marker=-1, nan_frame=-1)
    expected = np.array([[float(x) for x in line.split(",")] for line in lines])
    path = write_ti(tmp_path / "big.csv", lines)
    assert path.stat().st_size > 2 * HEAD_BYTES
    table = read_csv_table(path, parser=parser)
    assert table.header == tuple(TI_HEADER.split(",")) and table.known_lines is None  # the fast path
    np.testing.assert_array_equal(table.values, expected)
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))  # BOM and CRLF
    np.testing.assert_array_equal(read_csv_table(bom, parser=parser).values, expected)
    headerless = write_ti(tmp_path / "plain.csv", lines, None)
    table = read_csv_table(headerless, parser=parser)
    assert table.header is None and table.line_of(4000) == 4001
    np.testing.assert_array_equal(table.values, expected)
    bad = lines[:4000] + [lines[4000].replace(",", ",x7", 1)] + lines[4001:]  # deep past the head
    with pytest.raises(DataError, match=r"line 4002: 'x7.*' is not a number"):
        read_csv_table(write_ti(tmp_path / "bad.csv", bad), parser=parser)


# -- keypoint CSV ---------------------------------------------------------------------------------


def test_ti_csv_with_kinect_keypoints_makes_a_trainable_session(tmp_path: Path) -> None:
    """Radar + Kinect-25 keypoints only: the session carries what a keypoint-target student needs."""
    lines, _ = ti_rows(np.random.default_rng(5), skip=(), marker=-1, nan_frame=-1)
    radar = write_ti(tmp_path / "radar.csv", lines)
    kp = kinect_positions(40)
    blocks = write_kinect(tmp_path / "blocks.csv", kp, np.arange(100, 140), "blocks")
    report = import_ti_csv(radar, tmp_path / "s.h5", keypoints=blocks, skeleton="kinect_v2")
    assert report.assumptions["keypoints.pairing"].startswith("by frame number") and not report.warnings
    with open_session(tmp_path / "s.h5", validate="full") as s:
        stream = s.keypoints["kinect_v2"]
        assert stream.skeleton == "kinect_v2" and stream.joint_names == KINECT.joint_names
        assert stream.coordinate_frame == "world"
        np.testing.assert_array_equal(stream.timestamps, s.radar.timestamps)  # one label per radar frame
        np.testing.assert_allclose(stream.positions(), kp, atol=1e-5)
    # interleaved columns, no frame column: paired by order (equal counts)
    inter = write_kinect(tmp_path / "inter.csv", kp, None, "interleaved")
    report = import_ti_csv(radar, tmp_path / "i.h5", keypoints=inter, skeleton="kinect_v2")
    assert report.assumptions["keypoints.pairing"].startswith("by order")
    with open_session(tmp_path / "i.h5") as s:
        np.testing.assert_allclose(s.keypoints["kinect_v2"].positions(), kp, atol=1e-5)


def imported_kinect_walk(root: Path, seed: int, frames: int = 64) -> Path:
    """A person walking a seeded loop in front of a raised, turned radar: TI CSV + Kinect-25 CSV, imported.

    Radar points (radar frame) scatter around the tracked joints; the Kinect
    CSV is in the world frame with a frame column, and its left hand tip is
    untracked (TrackingState 0) every fifth frame.
    """
    rng = np.random.default_rng(seed)
    world_from_radar = np.eye(4)
    yaw = np.radians(15.0)
    world_from_radar[:3, :3] = [[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]]
    world_from_radar[:3, 3] = [0.2, 0.0, 1.1]
    phase = rng.uniform(0, 2 * np.pi) + np.linspace(0, 2 * np.pi, frames)
    walk = np.stack([0.8 * np.sin(phase), 3.0 + 0.8 * np.cos(phase), np.full(frames, 1.0)], 1)
    kp = kinect_positions(frames, seed, walk)
    states = np.full((frames, 25), 2.0)
    states[::5, KINECT.index("HandTipLeft")] = 0.0
    lines = []
    for k, joints in enumerate(kp):
        world = joints[rng.choice(25, 12)] + rng.normal(0, 0.03, (12, 3))
        radar = (world - world_from_radar[:3, 3]) @ world_from_radar[:3, :3]
        lines += [f"{k},12,{x:.4f},{y:.4f},{z:.4f},{rng.normal():.3f},{rng.uniform(5, 30):.2f},{T0 + k / 10:.3f}"
                  for x, y, z in radar]
    csv_path = write_ti(root / f"radar{seed}.csv", lines)
    labels = write_kinect(root / f"kinect{seed}.csv", kp, np.arange(frames), states=states)
    out = root / f"walk{seed}.h5"
    import_ti_csv(csv_path, out, keypoints=labels, skeleton="kinect_v2",
                  radar_options=RadarOptions(T_world_from_radar=world_from_radar.tolist()))
    return out


def test_student_trains_end_to_end_on_an_imported_ti_and_kinect_capture(tmp_path: Path) -> None:
    """TI CSV + Kinect-25 CSV -> sessions -> train_student with targets=keypoints: the kinect_v2 head learns."""
    from student_fixtures import TINY_MODEL, compose_train
    from wavecap.body import build_body_model
    from wavecap.student.model import build_student
    from wavecap.student.training import (
        build_datasets,
        load_checkpoint,
        model_from_checkpoint,
        train,
        validate,
        with_keypoint_head,
    )
    import torch

    train_paths = [imported_kinect_walk(tmp_path, seed) for seed in (1, 2)]
    val_path = imported_kinect_walk(tmp_path, 3)
    with open_session(val_path) as s:  # the documented import is what the point encoder reads
        assert s.radar.columns == ("x", "y", "z", "doppler", "snr") and tuple(s.keypoints) == ("kinect_v2",)
    steps = 40
    overrides = [
        f"sessions=[{','.join(map(str, [*train_paths, val_path]))}]", f"val_sessions=[{val_path}]",
        "targets=keypoints", f"out_dir={tmp_path / 'run'}", f"steps={steps}", "window=16", "stride=4",
        "batch_size=4", "lr=3e-3", "warmup_steps=2", f"val_every_steps={steps // 2}", f"checkpoint_every={steps}",
        "progress=false", "threads=1", *TINY_MODEL,
    ]
    cfg = compose_train(overrides)
    assert "kinect_v2" not in (cfg.student.keypoint_heads or {})  # added by training, not configured by hand
    body_model = build_body_model("stand-in")
    train_set, val_set = build_datasets(cfg, body_model)
    assert train_set.keypoint_skeleton == "kinect_v2" and train_set.rotate  # radar-frame labels: rotation on
    untrained = build_student(with_keypoint_head(cfg, "kinect_v2").student)
    untrained.encoder.fit_normalizer(*map(torch.from_numpy, train_set.training_points()))
    before = validate(untrained, val_set, body_model, 4, cfg)
    assert set(before) == {"val_loss", "val_keypoint_error_mm"}  # no SMPL targets, no joint error

    summary = train(cfg)
    after = validate(model_from_checkpoint(tmp_path / "run" / "best.pt"), val_set, body_model, 4, cfg)
    assert summary["step"] == steps
    assert after["val_keypoint_error_mm"] == pytest.approx(summary["best_val_keypoint_error_mm"], rel=1e-5)
    # 3238 -> 834 mm when written (untrained head -> 40 steps, 1 thread)
    assert after["val_keypoint_error_mm"] < 0.5 * before["val_keypoint_error_mm"], (before, after)
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    assert ckpt["targets"] == "keypoints" and ckpt["label_frame"] == "radar"
    assert ckpt["student_config"]["keypoint_heads"] == {"kinect_v2": 25}
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert "keypoints" in log[0].split(",")
    assert not {"joints", "rotations", "contacts"} & set(log[0].split(","))  # the SMPL losses are off


def test_keypoints_units_axes_states_and_pairing(tmp_path: Path) -> None:
    lines, _ = ti_rows(np.random.default_rng(6), skip=(), marker=-1, nan_frame=-1)
    radar = write_ti(tmp_path / "radar.csv", lines)
    kp = kinect_positions(20)
    # Kinect camera space: x to the sensor's left, y up, z out of the sensor; millimetres
    camera_space = np.stack([-kp[..., 0], kp[..., 2], kp[..., 1]], -1)
    states = np.full((20, 25), 2.0)
    states[3, KINECT.index("HandLeft")] = 0  # not tracked
    states[4, KINECT.index("Head")] = 1  # inferred
    path = write_kinect(tmp_path / "k.csv", camera_space, np.arange(110, 130), scale=1000.0, states=states)
    opts = KeypointOptions(axes="kinect_camera", name="kinect")
    report = import_ti_csv(radar, tmp_path / "k.h5", keypoints=path, skeleton="kinect_v2", keypoint_options=opts)
    assert any("from mm to m" in w for w in report.warnings) and not any("up direction" in w for w in report.warnings)
    with open_session(tmp_path / "k.h5") as s:
        stream = s.keypoints["kinect"]
        positions, conf = stream.positions(), stream.confidence()
        np.testing.assert_allclose(stream.timestamps, s.radar.timestamps[10:30], atol=1e-9)  # frames 110..129
    assert np.isnan(positions[3, KINECT.index("HandLeft")]).all() and conf[3, KINECT.index("HandLeft")] == 0
    assert conf[4, KINECT.index("Head")] == 0.5 and conf[0].min() == 1.0
    expected = kp.copy()
    expected[3, KINECT.index("HandLeft")] = np.nan
    np.testing.assert_allclose(positions, expected, atol=1e-5)
    # the same file read as world without axis conversion: flagged as not z-up
    report = import_ti_csv(radar, tmp_path / "w.h5", keypoints=path, skeleton="kinect_v2")
    assert any("up direction is +y" in w for w in report.warnings)
    short = write_kinect(tmp_path / "short.csv", kp[:7], None)
    with pytest.raises(DataError, match="cannot pair 7 keypoint rows with 40 radar frames"):
        import_ti_csv(radar, tmp_path / "p.h5", keypoints=short, skeleton="kinect_v2")
    text = (tmp_path / "short.csv").read_text().replace("HandTipLeft_Y", "Tip_Y")
    (tmp_path / "missing.csv").write_text(text)
    with pytest.raises(DataError, match="HandTipLeft_Y"):
        import_ti_csv(radar, tmp_path / "m.h5", keypoints=tmp_path / "missing.csv", skeleton="kinect_v2",
                      keypoint_options=KeypointOptions(pairing="order"))


# -- MM-Fi, mmBody ----------------------------------------------------------------------------------


def make_mmfi(root: Path, n: int = 12, empty: tuple[int, ...] = (3, 8)) -> tuple[Path, list[np.ndarray]]:
    rng = np.random.default_rng(7)
    seq = root / "E01" / "S01" / "A03"
    (seq / "mmwave").mkdir(parents=True)
    frames = []
    for i in range(1, n + 1):
        p = np.zeros((0, 5)) if i in empty else np.column_stack(
            [rng.normal(0, 0.3, (i + 2, 1)), rng.uniform(2, 3, (i + 2, 1)), rng.normal(0, 0.4, (i + 2, 3))])
        (seq / "mmwave" / f"frame{i:03d}.bin").write_bytes(p.astype("<f8").tobytes())
        frames.append(p)
    gt = skeleton_from_smpl(np.repeat(_rest29()[None], n, 0), "h36m17")
    np.save(seq / "ground_truth.npy", gt)
    return seq, frames


def _rest29() -> np.ndarray:
    from wavecap.body import build_body_model
    import torch

    with torch.no_grad():
        out = build_body_model("stand-in")(torch.tensor([[np.pi / 2, 0, 0.0]]), torch.zeros(1, 69),
                                           torch.zeros(1, 10), torch.tensor([[0.0, 2.5, 1.0]]), return_vertices=False)
    return out.joints29[0].double().numpy()


def test_mmfi_sequence(tmp_path: Path) -> None:
    seq, frames = make_mmfi(tmp_path)
    report = import_mmfi(seq, tmp_path / "m.h5")
    with open_session(tmp_path / "m.h5", validate="full") as s:
        assert len(s.radar) == 12 and s.radar.columns == ("x", "y", "z", "doppler", "intensity")
        for i, p in enumerate(frames):
            np.testing.assert_allclose(s.radar.frame(i), p, atol=1e-5)
        gt = s.keypoints["h36m17"]
        assert gt.positions().shape == (12, 17, 3) and gt.skeleton == "h36m17"
        np.testing.assert_array_equal(gt.timestamps, s.radar.timestamps)
        np.testing.assert_allclose(s.radar.timestamps, np.arange(12) / 10.0)
    assert report.streams["/radar"]["empty_frames"] == 2
    assert any("no per-frame timestamps" in w for w in report.warnings)
    (seq / "mmwave" / "frame005.bin").write_bytes(b"\0" * 44)
    with pytest.raises(DataError, match="not a whole number of 5-float64 points.*frame005.bin.*frame=5"):
        import_mmfi(seq, tmp_path / "bad.h5")
    (seq / "mmwave" / "frame005.bin").unlink()
    with pytest.raises(DataError, match="missing between frame 1 and 12 \\(first: frame 5\\)"):
        import_mmfi(seq, tmp_path / "bad.h5")


def make_mmbody(root: Path, n: int = 6) -> tuple[Path, np.ndarray]:
    from PIL import Image

    rng = np.random.default_rng(8)
    seq = root / "train" / "sequence_2"
    for sub in ("radar", "image/master", "mesh"):
        (seq / sub).mkdir(parents=True)
    code = np.arange(5, 5 + 40, dtype=np.int32).view(np.float32).astype(np.float64)  # ints as float32 bits
    for i in range(n):
        pts = np.column_stack([rng.normal(0, 0.5, 40), rng.uniform(2, 5, 40), rng.uniform(0, 1.8, 40), code,
                               rng.choice([-0.071, 0.0, 0.071], 40), rng.uniform(89, 140, 40)])
        np.save(seq / "radar" / f"frame_{i}.npy", pts)
        Image.fromarray(np.full((6, 8, 3), 10 * i, np.uint8)).save(seq / "image" / "master" / f"frame_{i}.png")
        joints = np.zeros((55, 3))
        joints[:22] = _rest29()[:22]
        joints[28], joints[43] = _rest29()[22], _rest29()[23]
        np.savez(seq / "mesh" / f"frame_{i}.npz", pose=np.zeros(69), shape=np.zeros(16), joints=joints)
    pose = np.eye(4)
    pose[:3, 3] = [0.1, -0.2, 1.3]
    (seq / "calib.txt").write_text("kinect_master\n" + "\n".join(" ".join(map(str, r)) for r in pose) + "\n")
    return seq, code


def test_mmbody_sequence(tmp_path: Path) -> None:
    seq, code = make_mmbody(tmp_path)
    report = import_mmbody(seq, tmp_path / "b.h5", camera_options=CameraOptions(intrinsics=(5.0, 5.0, 4.0, 3.0)))
    with open_session(tmp_path / "b.h5", validate="full") as s:
        assert s.radar.columns == ("x", "y", "z", "c3", "doppler", "power_db")
        np.testing.assert_array_equal(s.radar.frame(2)[:, 3], np.arange(5, 45))  # decoded from float32 bits
        assert s.ground_truth.skeleton == "smpl24"
        np.testing.assert_allclose(s.ground_truth.field("joints")[0], _rest29()[:24], atol=1e-5)
        cam = s.camera
        assert len(cam) == 6 and cam.encoding == "png" and cam.frame(3)[0, 0, 0] == 30
        np.testing.assert_allclose(cam.T_world_from_camera[:3, 3], [0.1, -0.2, 1.3])
        np.testing.assert_allclose(cam.timestamps, s.radar.timestamps)
    assert "UNVERIFIED" in report.assumptions["radar.columns"]


# -- images, video, dispatcher ----------------------------------------------------------------------


def test_image_folder_in_natural_order_with_name_times(tmp_path: Path) -> None:
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(12):  # file names in milliseconds, 40 ms apart; frame_10 sorts before frame_2 as text
        Image.fromarray(np.full((4, 6, 3), i, np.uint8)).save(folder / f"cam_{1000 + 40 * i}.png")
    report = import_images(str(folder), tmp_path / "i.h5", camera_options=CameraOptions(timestamps="names", fps=25))
    with open_session(tmp_path / "i.h5", validate="full") as s:
        assert len(s.radar) == 0 and len(s.camera) == 12
        np.testing.assert_allclose(s.camera.timestamps, 0.04 * np.arange(12))
        assert [int(s.camera.frame(i)[0, 0, 0]) for i in range(12)] == list(range(12))
    assert "in ms" in report.assumptions["camera.timestamps"]
    Image.fromarray(np.zeros((5, 6, 3), np.uint8)).save(folder / "cam_9999.png")
    with pytest.raises(DataError, match="different sizes"):
        import_images(str(folder), tmp_path / "j.h5")


def test_video_with_container_timestamps(tmp_path: Path) -> None:
    av = pytest.importorskip("av", reason="PyAV (the video extra) is not installed")
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        for i in range(15):
            frame = av.VideoFrame.from_ndarray(np.full((24, 32, 3), 16 * i, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    report = import_video(str(path), tmp_path / "v.h5")
    with open_session(tmp_path / "v.h5", validate="full") as s:
        assert len(s.camera) == 15 and (s.camera.height, s.camera.width) == (24, 32)
        np.testing.assert_allclose(s.camera.timestamps, np.arange(15) / 10.0, atol=1e-6)
        assert abs(int(s.camera.frame(7).mean()) - 112) <= 4  # lossy codec
    assert report.assumptions["camera.timestamps"] == "container presentation times"


def test_dispatcher_and_script(tmp_path: Path) -> None:
    seq, _ = make_mmfi(tmp_path)
    with pytest.raises(ValueError, match="does not take \\['keypoints'\\]"):
        import_capture("mmfi", tmp_path / "x.h5", sequence=str(seq), keypoints="k.csv")
    with pytest.raises(DataError, match="already exists"):
        import_mmfi(seq, tmp_path / "y.h5") and import_mmfi(seq, tmp_path / "y.h5")
    out = tmp_path / "z.h5"
    run = subprocess.run([sys.executable, str(REPO / "scripts" / "import_capture.py"), "format=mmfi",
                          f"sequence={seq}", f"out={out}", "radar_options.frame_rate_hz=20",
                          f"hydra.run.dir={tmp_path / 'hydra'}"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "import mmfi" in run.stdout and Path(report_path(out)).is_file()
    assert validate_session(out).ok
    with open_session(out) as s:
        assert s.radar.config["frame_rate_hz"] == 20.0


def test_report_json_is_complete(tmp_path: Path) -> None:
    lines, _ = ti_rows(np.random.default_rng(9))
    import_ti_csv(write_ti(tmp_path / "r.csv", lines), tmp_path / "r.h5")
    report = json.loads(io.StringIO(Path(report_path(tmp_path / "r.h5")).read_text()).read())
    radar = report["streams"]["/radar"]
    for key in ("frames", "points_per_frame", "empty_frames", "rows_dropped_nonfinite", "gaps", "longest_gap_s",
                "timestamps", "units_assumed"):
        assert key in radar, key
    assert report["inputs"]["radar"].endswith("r.csv") and report["format"] == "ti_csv"
