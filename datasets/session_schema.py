"""The recorded-session HDF5 schema, stated as data.

One table of groups, datasets and attributes that the writer, the reader, the
validator and ``docs/session_format.md`` all follow. Shapes are written in
symbols that bind per group: ``T`` frames of that group's stream, ``N`` radar
points in total, ``L`` encoded image bytes in total, ``C`` point columns, ``H``/``W`` image rows/columns, ``J``
joints, ``K`` contact points or label chunks, ``B`` shape coefficients. ``"T+1"``
is one more than ``T``; ``"..."`` accepts any further dimensions.

Units: seconds for times, metres for positions, radians for angles. Frames are
defined in ``docs/frames.md``; ``world`` is z-up.

No HDF5 variable-length type appears anywhere (strings are fixed-length UTF-8,
ragged data is flat plus offsets): such data lives in the global heap, which
has no checksums, and a corrupted one can hang the HDF5 library.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = "1.2"
# Versions this code reads. A file with another version fails validation rather
# than being read with guessed semantics. 1.1 added the optional /calibration
# group, 1.2 the optional /camera/boxes.
SUPPORTED_VERSIONS = ("1.0", "1.1", "1.2")

# Point columns every radar cloud starts with, so that ``points[:, :3]`` is the
# position in the radar frame whatever else a radar reports.
POSITION_COLUMNS = ("x", "y", "z")
DOPPLER_SIGNS = ("positive_away", "positive_towards")
BODY_MODELS = ("smpl", "stand-in")
KEYPOINT_FRAMES = ("world", "camera", "radar")
CAMERA_ENCODINGS = ("png", "jpeg")
LABEL_STATUSES = ("incomplete", "complete")
DEFAULT_CONTACT_NAMES = ("left_heel", "left_toe", "right_heel", "right_toe")

Shape = tuple[str | int, ...]


@dataclass(frozen=True)
class AttrSpec:
    """One HDF5 attribute.

    Attributes:
        name: attribute name.
        kind: ``"str"``, ``"str_list"``, ``"int"``, ``"float"`` or ``"float_list"``.
        required: whether it must be present (when its owner is present).
        choices: allowed values of a ``"str"`` attribute; empty means any.
        doc: meaning and unit, for the documentation.
    """

    name: str
    kind: str
    required: bool
    choices: tuple[str, ...] = ()
    doc: str = ""


@dataclass(frozen=True)
class FieldSpec:
    """One HDF5 dataset.

    Attributes:
        name: path relative to its group (``"smpl/body_pose"``).
        dtype: numpy dtype name.
        shapes: accepted shapes in symbols; any one may match.
        required: whether it must be present (when its group is present).
        unit: unit of the values.
        doc: meaning and coordinate frame, for the documentation.
        attrs: attributes the dataset carries.
    """

    name: str
    dtype: str
    shapes: tuple[Shape, ...]
    required: bool
    unit: str = ""
    doc: str = ""
    attrs: tuple[AttrSpec, ...] = ()


@dataclass(frozen=True)
class GroupSpec:
    """One HDF5 group, or a family of them.

    Attributes:
        path: absolute group path; a trailing ``/*`` means any member name.
        required: whether the file must contain it.
        fields: its datasets, ``timestamps`` first so that ``T`` binds from it.
        attrs: attributes the schema knows; other scalar attributes are allowed.
        one_of: sets of field names of which exactly one must be present.
        doc: what the group holds.
    """

    path: str
    required: bool
    fields: tuple[FieldSpec, ...]
    attrs: tuple[AttrSpec, ...] = ()
    one_of: tuple[tuple[str, ...], ...] = ()
    doc: str = ""


def _timestamps(stream: str) -> FieldSpec:
    return FieldSpec(
        "timestamps", "float64", (("T",),), True, "s",
        f"{stream} time of each frame on the session clock; finite, strictly increasing",
    )


_SKELETON = AttrSpec("skeleton", "str", True, doc="skeleton name, e.g. 'smpl24', 'kinect_v2'")
_JOINT_NAMES = AttrSpec("joint_names", "str_list", True, doc="J joint names in storage order")

ROOT_ATTRS = (
    AttrSpec("wavecap_schema", "str", True, SUPPORTED_VERSIONS, "schema version of this file"),
    AttrSpec("created_by", "str", True, doc="program (and version) that wrote the raw streams"),
    AttrSpec("body_model", "str", False, BODY_MODELS, "body model of /ground_truth/smpl; absent if none"),
    AttrSpec("description", "str", False, doc="free text"),
    AttrSpec("subject", "str", False, doc="subject identifier; further facts as subject_<key> scalars"),
)

RADAR = GroupSpec(
    "/radar", True,
    (
        _timestamps("radar"),
        FieldSpec(
            "points", "float32", (("N", "C"),), True, "m (x, y, z); see columns",
            "all frames' points concatenated; positions in the radar frame",
            (AttrSpec("columns", "str_list", True, doc="C column names, starting x, y, z"),),
        ),
        FieldSpec(
            "offsets", "int64", (("T+1",),), True, "points",
            "frame i owns points[offsets[i]:offsets[i+1]]; 0 first, N last, non-decreasing",
        ),
        FieldSpec(
            "T_world_from_radar", "float64", ((4, 4),), True, "m",
            "rigid transform taking radar-frame points to world",
        ),
        FieldSpec(
            "heatmaps", "float32", (("T", "..."),), False, "radar-specific",
            "one dense map per frame (range/azimuth/... as named by axes)",
            (
                AttrSpec("axes", "str_list", True, doc="name of each axis after T"),
                AttrSpec("bins_<axis>", "float_list", False, doc="bin centres of <axis>"),
            ),
        ),
    ),
    (
        AttrSpec("model", "str", False, doc="radar model, e.g. 'IWR6843'"),
        AttrSpec("frame_rate_hz", "float", False, doc="nominal frame rate (Hz)"),
        AttrSpec("range_resolution_m", "float", False, doc="range bin size (m)"),
        AttrSpec("doppler_resolution_mps", "float", False, doc="Doppler bin size (m/s)"),
        AttrSpec(
            "doppler_sign", "str", False, DOPPLER_SIGNS,
            "sign of the doppler column; required when that column exists",
        ),
    ),
    doc="the radar stream: ragged point clouds, optional heatmaps, radar config as attributes",
)

RADAR_TRUTH = GroupSpec(
    "/radar_truth", False, (),
    doc="simulator truth per radar point: one numeric dataset [N, ...] per quantity, rows aligned with"
    " /radar/points (e.g. kind, joint, true_position, true_radial_velocity); NaN allowed",
)

CAMERA = GroupSpec(
    "/camera", False,
    (
        _timestamps("camera"),
        FieldSpec(
            "frames", "uint8", (("T", "H", "W", 3),), False, "",
            "raw RGB images, row 0 at the top; one compressed chunk per frame",
        ),
        FieldSpec(
            "encoded", "uint8", (("L",),), False, "bytes",
            "all frames' image files (PNG/JPEG) concatenated",
            (AttrSpec("encoding", "str", True, CAMERA_ENCODINGS, "image file format"),),
        ),
        FieldSpec(
            "encoded_offsets", "int64", (("T+1",),), False, "bytes",
            "frame i is encoded[offsets[i]:offsets[i+1]]; required with encoded",
        ),
        FieldSpec(
            "intrinsics", "float64", ((3, 3),), True, "px",
            "pinhole matrix K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]",
        ),
        FieldSpec(
            "T_world_from_camera", "float64", ((4, 4),), True, "m",
            "rigid transform taking camera-frame points to world",
        ),
        FieldSpec(
            "boxes", "float32", (("T", 4),), False, "px",
            "person box (x1, y1, x2, y2) of each frame, image pixels (pixel centres at integer coordinates,"
            " as for intrinsics); finite with x2 > x1 and y2 > y1, or a NaN row when no person is in the frame",
            (AttrSpec("source", "str", True,
                      doc="where the boxes come from, e.g. 'detector', 'annotation', 'simulator-silhouette'"),),
        ),
    ),
    (
        AttrSpec("width", "int", True, doc="image width W (px)"),
        AttrSpec("height", "int", True, doc="image height H (px)"),
        AttrSpec("fps", "float", True, doc="nominal frame rate (Hz)"),
    ),
    one_of=(("frames", "encoded"),),
    doc="one RGB camera; a later version may hold several as /cameras/<name> in this layout",
)

GROUND_TRUTH = GroupSpec(
    "/ground_truth", False,
    (
        _timestamps("ground-truth"),
        FieldSpec("smpl/global_orient", "float32", (("T", 3),), False, "rad", "root rotation, axis-angle, world"),
        FieldSpec("smpl/body_pose", "float32", (("T", 69),), False, "rad", "23 joint rotations, axis-angle"),
        FieldSpec("smpl/betas", "float32", (("B",), ("T", "B")), False, "", "shape coefficients, fixed or per frame"),
        FieldSpec("smpl/transl", "float32", (("T", 3),), False, "m", "root translation, world"),
        FieldSpec(
            "joints", "float32", (("T", "J", 3),), False, "m", "joint positions, world",
            (_SKELETON, _JOINT_NAMES),
        ),
        FieldSpec(
            "contacts", "bool", (("T", "K"),), False, "", "foot contact flags",
            (AttrSpec("names", "str_list", True, doc="K contact names, default left/right heel/toe"),),
        ),
    ),
    doc="reference motion (mocap or simulator); any subset of the fields",
)

KEYPOINTS = GroupSpec(
    "/keypoints/*", False,
    (
        _timestamps("keypoint"),
        FieldSpec("positions", "float32", (("T", "J", 3),), True, "m", "joint positions in `frame`; NaN = not tracked"),
        FieldSpec("confidence", "float32", (("T", "J"),), False, "", "per-joint confidence in [0, 1]"),
    ),
    (
        _SKELETON,
        _JOINT_NAMES,
        AttrSpec("frame", "str", True, KEYPOINT_FRAMES, "coordinate frame of positions"),
    ),
    doc="third-party keypoint streams (Kinect, mocap markers, ...), one group per stream",
)

LABELS = GroupSpec(
    "/labels/*", False,
    (
        FieldSpec("done", "bool", (("K",),), True, "", "chunk k = frames [k*chunk_size, (k+1)*chunk_size) is final"),
    ),
    (
        AttrSpec("status", "str", True, LABEL_STATUSES, "'complete' once every chunk is done"),
        AttrSpec("length", "int", True, doc="T: frames of the timebase stream"),
        AttrSpec("chunk_size", "int", True, doc="frames per chunk"),
        AttrSpec("timebase", "str", True, doc="group whose timestamps index the labels, e.g. '/radar'"),
        AttrSpec("fields", "str_list", True, doc="names of the label datasets, each shaped [T, ...]"),
    ),
    doc="teacher output, one group per run; written after the raw streams, never touching them",
)

CALIBRATION = GroupSpec(
    "/calibration", False,
    (
        FieldSpec(
            "T_reference_from_radar", "float64", ((4, 4),), True, "m",
            "rigid transform taking radar-frame points into the reference stream's frame",
        ),
        FieldSpec(
            "T_world_from_radar", "float64", ((4, 4),), False, "m",
            "the calibrated radar extrinsic (when the reference frame reaches world); use it instead of "
            "/radar/T_world_from_radar",
        ),
    ),
    (
        AttrSpec("method", "str", True, doc="how it was estimated, e.g. 'motion'"),
        AttrSpec("reference", "str", True, doc="stream the radar was aligned to, e.g. '/ground_truth'"),
        AttrSpec("reference_frame", "str", True, KEYPOINT_FRAMES, "coordinate frame of that stream"),
        AttrSpec("radar_time_offset_s", "float", True,
                 doc="add to /radar/timestamps to put radar frames on the reference stream's clock (s)"),
        AttrSpec("residual_rms_m", "float", False, doc="RMS residual of the alignment after outlier rejection (m)"),
    ),
    doc="radar extrinsic and clock offset estimated after recording (scripts/calibrate.py); raw streams keep "
    "their recorded values",
)

GROUPS = (RADAR, RADAR_TRUTH, CAMERA, GROUND_TRUTH, KEYPOINTS, LABELS, CALIBRATION)
# Attributes a label run reserves; the rest are the run's free-form metadata.
LABEL_RESERVED_ATTRS = tuple(a.name for a in LABELS.attrs)
