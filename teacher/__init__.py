"""RGB teacher: HybrIK-style network, analytic IK, checkpoints, person crops.

* :mod:`~wavecap.teacher.network` — :class:`HybrIKNet` (official ResNet-34
  camera layout or the compact config), soft-argmax and uvd -> camera decoding;
* :mod:`~wavecap.teacher.ik` — batched twist-and-swing IK and twist extraction;
* :mod:`~wavecap.teacher.pose` — network output -> SMPL parameters;
* :mod:`~wavecap.teacher.checkpoint` — strict loading of official checkpoints;
* :mod:`~wavecap.teacher.crop`, :mod:`~wavecap.teacher.boxes` — person boxes
  and HybrIK's crop / normalisation;
* :mod:`~wavecap.teacher.labeling` — labeling sessions (camera- and
  radar-clock label runs), with :mod:`~wavecap.teacher.label_frames`
  (change of frame, resampling, smoothing) and
  :mod:`~wavecap.teacher.keypoint_labels` (labels from keypoint streams);
* :mod:`~wavecap.teacher.training`, :mod:`~wavecap.teacher.training_data` —
  training on sessions with ground truth; :mod:`~wavecap.teacher.evaluation`
  — label accuracy against ground truth.
"""

from wavecap.teacher.boxes import JointTracker, box_from_joints, check_boxes, fixed_boxes
from wavecap.teacher.checkpoint import CheckpointInfo, load_checkpoint, read_state_dict
from wavecap.teacher.crop import (
    crop_images,
    crop_to_image,
    image_to_crop,
    normalize_crops,
    prepare_inputs,
    square_boxes,
    uvd_to_image,
)
from wavecap.teacher.ik import HYBRIK_CHILDREN, IKResult, inverse_kinematics, solve_ik, twist_angles, twist_from_rest
from wavecap.teacher.network import (
    HybrIKNet,
    TeacherOutput,
    build_teacher,
    fuse_for_inference,
    soft_argmax_3d,
    uvd_to_camera,
)
from wavecap.teacher.pose import TeacherPose, pose_from_output

__all__ = [
    "CheckpointInfo", "HYBRIK_CHILDREN", "HybrIKNet", "IKResult", "JointTracker", "TeacherOutput",
    "TeacherPose", "box_from_joints", "build_teacher", "check_boxes",
    "fuse_for_inference", "crop_images", "crop_to_image",
    "fixed_boxes", "image_to_crop", "inverse_kinematics", "load_checkpoint", "normalize_crops",
    "pose_from_output", "prepare_inputs", "read_state_dict", "soft_argmax_3d", "solve_ik", "square_boxes",
    "twist_angles", "twist_from_rest", "uvd_to_camera", "uvd_to_image",
]
