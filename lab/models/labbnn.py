"""LAB-BNN, the LAB paper's end-to-end network: QuickNet's stem, then Bi-Real Net blocks with a PReLU after each
residual addition.
"""
from __future__ import annotations

import tensorflow as tf

from lab.models import birealnet, quicknet
from lab.models.common import BinarizerArg, Spec, classifier

NUM_STAGES = birealnet.NUM_STAGES
sign_baseline = birealnet.sign_baseline


def LABBNN(*, binarizer: BinarizerArg = "sign", lab_blocks=None, input_shape=(224, 224, 3),
           num_classes: int = 1000, width: float = 1.0) -> tf.keras.Model:
    """LAB-BNN: QuickNet's stem (3x3/2 conv with 16 filters, BN, ReLU, 3x3/2 depthwise conv, BN without scale or
    centre, 1x1 conv with 64 filters, BN), 16 Bi-Real Net blocks each followed by a PReLU shared over height and
    width, average pool, dense, softmax. The published LAB-BNN is ``binarizer="lab"``.

    Stages (``lab_blocks`` has 4 flags): 4 stages of 4 blocks with 64/128/256/512 filters (times ``width``); the
    first block of stages 2-4 halves the map (stride-2 binary conv; shortcut 2x2/2 average pool, 1x1 conv, BN); each
    block has one binary 3x3 conv ``stage{s}_block{b}_binconv1``. Weights: magnitude-aware sign, clipped to
    [-1, 1]. The "sign" binarizer is STE sign (clip 1), Bi-Real Net's baseline. Below 64 px the two strided stem
    convs have stride 1.

    # Arguments
        As `lab.models.build` (all but ``name``).

    # References
        - Falkena et al., LAB: Learnable Activation Binarizer for Binary Neural Networks, WACV 2023.
    """
    spec = Spec.create(num_stages=NUM_STAGES, baseline=sign_baseline, binarizer=binarizer, lab_blocks=lab_blocks,
                       input_shape=input_shape, num_classes=num_classes, width=width)
    image = spec.image_input()
    x = quicknet.stem(image, spec, spec.filters(birealnet.STAGE_FILTERS[0]))
    x = birealnet.stages(x, spec, prelu=True)
    return tf.keras.Model(image, classifier(x, spec.num_classes), name="lab_bnn")
