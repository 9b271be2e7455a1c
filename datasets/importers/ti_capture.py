"""``format=ti_csv``: a TI point-cloud CSV, optionally with a paired keypoint CSV and an RGB stream."""

from __future__ import annotations

import os

from .camera import read_camera
from .keypoints_csv import keypoint_times, read_keypoint_csv
from .options import CameraOptions, KeypointOptions, RadarOptions
from .report import ImportReport
from .streams import KeypointData, write_session
from .ti_csv import read_ti_csv


def import_ti_csv(
    radar: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    keypoints: str | os.PathLike[str] | None = None,
    skeleton: str | None = None,
    images: str | None = None,
    video: str | None = None,
    radar_options: RadarOptions | None = None,
    keypoint_options: KeypointOptions | None = None,
    camera_options: CameraOptions | None = None,
    overwrite: bool = False,
    compression: str | None = "lzf",
    validate: str = "full",
    progress: bool = False,
) -> ImportReport:
    """Import a TI point CSV (+ keypoint CSV, + images or video) as one session.

    The keypoints become ``/keypoints/<name>`` (default name: the skeleton's),
    in the frame ``keypoint_options.frame`` says: a session a student can be
    trained on with keypoint targets alone.

    Args:
        radar: TI CSV export, one row per point (see ``ti_csv``).
        out: session file to write; the report goes to ``<out>.import.json``.
        keypoints: optional keypoint CSV (see ``keypoints_csv``).
        skeleton: skeleton of the keypoints (``kinect_v2``, ``h36m17``, ...);
            required with ``keypoints``.
        images: optional image folder for the camera stream.
        video: optional video file for the camera stream.
        radar_options: units, columns, frame rate, extrinsic, ...
        keypoint_options: units, layout, frame, axes, pairing, ...
        camera_options: timestamps, intrinsics, extrinsic, encoding.
        overwrite: replace an existing ``out``.
        compression: HDF5 filter of the streams.
        validate: validation level of the written session (``cheap`` or ``full``).
        progress: progress bar for camera frames.

    Returns:
        The report, also written as JSON beside ``out``.

    Raises:
        DataError: any input that cannot be interpreted (naming file, line, column).
    """
    radar_options = radar_options or RadarOptions()
    keypoint_options = keypoint_options or KeypointOptions()
    report = ImportReport("ti_csv", inputs={"radar": os.fspath(radar)})
    radar_data, radar_frames = read_ti_csv(radar, radar_options, report)
    streams = []
    if keypoints is not None:
        if not skeleton:
            raise ValueError("keypoints need skeleton=<name>")
        report.inputs["keypoints"] = os.fspath(keypoints)
        table = read_keypoint_csv(keypoints, skeleton, keypoint_options, report, radar_options.delimiter,
                                  radar_options.parser)
        origin = radar_data.config.get("file_time_origin_s")
        t = keypoint_times(table, radar_frames, radar_data.timestamps, origin, keypoint_options, report,
                           os.fspath(keypoints))
        streams.append(KeypointData(keypoint_options.name or table.skeleton.name, t, table.positions,
                                    table.skeleton.joint_names, table.skeleton.name, keypoint_options.frame,
                                    table.confidence, table.figures))
    camera = read_camera(images, video, camera_options or CameraOptions(), report)
    if camera is not None:
        report.assume("camera.clock", "camera and radar streams start together (time_offset_s shifts the camera)")
    return write_session(out, report, radar_data, keypoints=streams, camera=camera,
                         description=f"TI CSV {os.path.basename(os.fspath(radar))}", overwrite=overwrite,
                         compression=compression, validate=validate, progress=progress)
