"""The faces step of `classics tour`: digits stand in for people (no package ships
identity-labelled faces). Train on digits 0-6, verify and identify unseen 7-9."""


def tour_step(context) -> None:
    from apps.common.tour import train_preset
    from apps.faces import commands, training
    from apps.faces.config import PRESETS, Config

    config, run_dir, seconds = train_preset(context, Config, PRESETS, training.train)
    out = context.directory / "faces"
    result = training.evaluate(run_dir, out_dir=out)
    version = commands.export(run_dir, root=context.model_root)
    context.report.add(
        "face verification (digits as identities: MNIST-5k 0-6 trained, 7-9 unseen)",
        {
            "ROC AUC (unseen 7-9)": result["roc_auc"],
            "EER": result["eer"],
            "TAR at FAR 1 %": result["tar_at_far_1%"],
            "accuracy at the calibrated threshold": result["at_threshold"]["accuracy"],
            "one-shot identification top-1": result["one_shot_top1"],
            "train seconds": round(seconds, 1),
            "export": str(version),
        },
        [result["roc_png"]],
        notes=f"No package ships identity-labelled faces, so digits play the people: an encoder "
              f"({config.loss}, {config.mining} mining on P x K batches) is trained on digits 0-6, "
              "its threshold calibrated on held-out images of them, and it is evaluated on all "
              "pairs of the unseen digits 7-9. One-shot identification enrols one image per unseen "
              "digit. For faces: "
              "`classics faces train --preset att-mobilenet` on the AT&T faces (README).",
    )
