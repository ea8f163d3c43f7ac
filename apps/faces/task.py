"""Face verification on the app contract: identities, the encoder (fitted head and/or triplet
steps), calibration, evaluation on unseen people, the export with its threshold, tour."""

import io
import pathlib

import numpy as np

from apps.common.backbones import init_backbone_from
from apps.common.files import write_json
from apps.common.optimizers import make_optimizer
from apps.common.packages import EMBEDDED, fetch_package_file
from apps.common.run import seed_everything
from apps.common.task import Task
from apps.faces import align, commands, plots, training
from apps.faces.config import PRESETS, Config
from apps.faces.data import load_data, make_eval_dataset, make_train_dataset, train_steps
from apps.faces.losses import MarginSoftmaxLoss, TripletLoss, VerificationAUC
from apps.faces.model import build_model, encoder_of, training_model
from apps.faces.serving import export_module


class FacesTask(Task):
    name = "faces"
    description = "face verification: triplet-trained encoder, calibrated threshold, enrolment"
    data_help = ("Datasets: folder:<root> (one subfolder per person, e.g. AT&T faces), olivetti, tfds:lfw, "
                 "or mnist5k digits as identities (default).")
    Config, presets = Config, PRESETS
    # Checkpoints are selected by the verification AUC of all validation pairs (one batch).
    monitor, mode = "val_embedding_verification_auc", "max"
    tour_seconds = 35.0

    def load_data(self, config):
        return load_data(config)

    def labels(self, data):
        return None  # the people are identities to tell apart, not classes the export names

    def describe_data(self, data):
        s = data
        return (f"train {len(s.people(s.y_train))} people ({len(s.y_train)} images), validation "
                f"{len(s.people(s.y_val))} ({len(s.y_val)}), test {len(s.people(s.y_test))} unseen "
                f"({len(s.y_test)})")

    def build_model(self, config, data):
        """The training model around the encoder (image -> unit vectors)."""
        encoder = build_model(config, data.input_shape)
        if config.init_from:
            init_backbone_from(encoder, training.load_encoder(config.init_from))
        return training_model(config, encoder, len(data.people(data.y_train)))

    def compile(self, model, config, data, learning_rate=None):
        triplet = TripletLoss(config.margin, config.mining)
        losses, weights = {"embedding": triplet}, {"embedding": 1.0}
        if config.loss == "margin_softmax":  # plus (optionally) the triplet term on the embeddings
            losses["cosines"] = MarginSoftmaxLoss(config.softmax_scale, config.softmax_margin,
                                                  config.softmax_kind)
            weights = {"cosines": 1.0, "embedding": float(config.triplet_weight)}
        # Keras prefixes a metric with its output's name only when there are several outputs:
        # name it so that the log column is `monitor` either way.
        auc = VerificationAUC() if len(losses) > 1 else VerificationAUC(name="embedding_verification_auc")
        model.compile(optimizer=make_optimizer(config, train_steps(config, len(data.y_train)), learning_rate),
                      loss=losses, loss_weights=weights, metrics={"embedding": [auc]})

    def datasets(self, config, data):
        targets = ("embedding", "cosines") if config.loss == "margin_softmax" else ("embedding",)
        return (make_train_dataset(data.x_train, data.y_train, config, targets),
                make_eval_dataset(data.x_val, data.y_val, config, targets))

    def fit_member(self, run, config, data, verbose=None):
        """A closed-form head is fitted first (on the training people's frozen-trunk features);
        with epochs 0 it is the model, else gradient steps follow as for a learned head."""
        if config.head == "learned":
            return super().fit_member(run, config, data, verbose)
        seed_everything(config.seed)
        model = self.build_model(config, data)
        if config.head != "none":  # "none": the trunk's own features, nothing to fit
            run.write_json(training.HEAD, training.fit_head(encoder_of(model), data, config))
        if config.epochs == 0:
            run.save_model(model)
            return
        self.compile(model, config, data)
        train, val = self.datasets(config, data)
        run.fit(model, train, val, epochs=config.epochs, monitor=self.monitor, mode=self.mode,
                keep=config.checkpoint, patience=config.early_stopping_patience, verbose=verbose)

    def finish(self, run, config, data):
        run.write_json(training.CALIBRATION, training.calibrate(self.load_model(run), data, config))

    def load_model(self, run):
        return training.load_encoder(run.path)

    # ------------------------------------------------------------ a finished run
    def evaluate(self, run, options=None, out_dir=None):
        """ROC AUC, EER, TAR at FAR 1 % / 0.1 %, accuracy at the calibrated thresholds and
        one-shot identification on the test people; an ROC curve PNG."""
        calibration = run.read_json(training.CALIBRATION)
        data = load_data(run.config)
        result, d, genuine = training.evaluate_embeddings(
            training.embed(self.load_model(run), data.x_test), data.y_test, calibration)
        result.update(people=data.people(data.y_test), data=run.config.data, threshold=calibration["threshold"],
                      threshold_at_far=calibration["threshold_at_far"])
        out_dir = pathlib.Path(out_dir or run.path / "eval")
        write_json(out_dir / "metrics.json", result)
        result["roc_png"] = str(plots.roc_png(d, genuine, out_dir / "roc.png",
                                        title=f"ROC on {len(result['people'])} unseen people"))
        return result

    def format_evaluation(self, result):
        return training.format_result(result)

    def serving(self, run, options=None):
        calibration = run.read_json(training.CALIBRATION)
        module, signatures = export_module(self.load_model(run), calibration,
                                           photos=run.config.photo_signatures,
                                           frame=align.frame_for(run.config.backbone))
        return module, signatures, {"calibration.json": calibration, "run.json": {"run": str(run.path)}}

    def add_commands(self, sub):
        commands.add_commands(sub)

    # ------------------------------------------------------------ tour
    def tour(self, context):
        """Digits stand in for people (no package ships identity-labelled faces): train on
        digits 0-6, verify and identify unseen 7-9."""
        config = self.tour_config(context)
        run = self.train(config, fresh=True)
        result = self.evaluate(run, out_dir=context.directory / self.name)
        version = self.export(run, root=context.model_root)
        photos = self.tour_photos(version, context.directory / self.name / "photos.png")
        context.report.add(
            "face verification (digits as identities: MNIST-5k 0-6 trained, 7-9 unseen)",
            {"ROC AUC (unseen 7-9)": result["roc_auc"], "EER": result["eer"],
             "TAR at FAR 1 %": result["tar_at_far_1%"],
             "accuracy at the calibrated threshold": result["at_threshold"]["accuracy"],
             "one-shot identification top-1": result["one_shot_top1"], "export": str(version)},
            [result["roc_png"], photos],
            notes=f"No package ships identity-labelled faces, so digits play the people: an encoder "
                  f"({config.loss}, {config.mining} mining on P x K batches) is trained on digits 0-6, its "
                  "threshold calibrated on held-out images of them, and it is evaluated on all pairs of the "
                  "unseen digits 7-9. One-shot identification enrols one image per unseen digit. For faces: "
                  "`classics faces train --preset att-wccn` on the AT&T faces (README). The photos: what the "
                  "export's embed_photos signature answers for photos of any size (BlazeFace, FaceMesh and "
                  "the alignment run inside the graph): the face's box and mesh, or why there is no answer.")

    @staticmethod
    def tour_photos(version, path):
        """The export's embed_photos on photos from the scikit-image wheel (one face, one face
        small and turned, two faces, none) -> the picture."""
        import tensorflow as tf
        from PIL import Image

        def photo(key):
            return np.asarray(Image.open(fetch_package_file(EMBEDDED[key])).convert("RGB"))

        astronaut = photo("skimage-astronaut")
        face = np.asarray(Image.fromarray(astronaut[20:260, 100:340]).resize((160, 160)))
        turned = np.asarray(Image.fromarray(astronaut).rotate(12, Image.BILINEAR).resize((300, 300)))
        photos = [("astronaut", astronaut), ("smaller, turned 12 degrees", turned),
                  ("two faces", np.concatenate([face, face[:, ::-1]], 1)), ("bricks", photo("skimage-brick"))]
        blobs = []
        for _, image in photos:
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="PNG")
            blobs.append(buffer.getvalue())
        out = tf.saved_model.load(str(version)).signatures["embed_photos"](photo_bytes=tf.constant(blobs))
        answers = [{"faces": int(out["faces"][k]), "error": out["error"][k].numpy().decode(),
                    "box": out["box"][k].numpy(), "landmarks": out["landmarks"][k].numpy()}
                   for k in range(len(photos))]
        return plots.photos_png(photos, answers, path)


TASK = FacesTask()
