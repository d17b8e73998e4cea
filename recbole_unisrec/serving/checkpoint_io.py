"""Checkpoints and serving: what a trained checkpoint carries for serving, and reading one back.

After training, :func:`add_serving_info` writes into the checkpoint the raw item id of each row
of its ID embedding and the exact identity of its text encoder (:func:`serving_info`). To
serve, :func:`load_for_serving` rebuilds the model from the checkpoint's weights and plain config
(:func:`~recbole_unisrec.model.rebuild.build_model`, no data set read), names its text encoder
(:func:`checkpoint_encoder_spec`), checks that the encoder available here is that one
(:func:`check_encoder`), and maps learned ID vectors to raw item ids (:func:`learned_ids`; a
checkpoint without the id list has it rebuilt from its data set's files where they still exist).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recbole_unisrec.checkpoint import CheckpointError, checkpoint_config, load_checkpoint
from recbole_unisrec.fileio import save_checkpoint
from recbole_unisrec.model.rebuild import build_model
from recbole_unisrec.serving.catalog import PAD_TOKEN, item_tokens_from_files, token_to_raw
from recbole_unisrec.serving.errors import EncoderMismatchError
from recbole_unisrec.text.encoder import EncoderSpec, ModelLoadError

if TYPE_CHECKING:
    from recbole.data.dataset import SequentialDataset

SERVING_INFO_VERSION = 1

#: What a checkpoint's config must name to be served (a UniSRec of this project).
REQUIRED_SETTINGS = ("hidden_size", "n_layers", "n_heads", "inner_size", "MAX_ITEM_LIST_LENGTH", "train_stage")


# --------------------------------------------------------------------------------------------
# What a checkpoint must carry for serving
# --------------------------------------------------------------------------------------------

def serving_info(dataset: SequentialDataset) -> dict[str, Any]:
    """What serving needs to know about a trained model's data set, as plain values.

    ``item_tokens``: the ``.inter`` token of every RecBole internal item id (index 0 is padding);
    ``item_ids``: the raw item id of each (from ``<Name>.item2index``; ``None`` where a token has
    no raw id, e.g. a multi-domain corpus); ``text_encoder``: model name, content identity,
    pooling, max length and vector width of the language model the data set was encoded with.
    """
    tokens = [str(token) for token in dataset.field2id_token[dataset.iid_field]]
    info: dict[str, Any] = {"serving_info_version": SERVING_INFO_VERSION, "item_tokens": tokens}
    folder, name = Path(dataset.config["data_path"]), dataset.config["dataset"]
    raw_of = token_to_raw(folder, name)
    if raw_of:
        info["item_ids"] = [PAD_TOKEN] + [raw_of.get(token) for token in tokens[1:]]
    spec = getattr(dataset, "text_spec", None)
    if spec is not None:
        from recbole_unisrec.text.encoder import model_identity

        info["text_encoder"] = {
            "model": spec.model,
            "identity": model_identity(spec.model),
            "pooling": spec.pooling,
            "max_length": int(spec.max_length),
            "dim": int(getattr(dataset, "plm_size", 0)) or None,
        }
    return info


def add_serving_info(checkpoint_path: str | os.PathLike, dataset: SequentialDataset, missing_ok: bool = False) -> None:
    """Add :func:`serving_info` of ``dataset`` to a saved checkpoint (rewritten atomically).

    Called once after training (``quick_start.run``), so the checkpoint maps its learned ID
    vectors back to raw item ids and names its text encoder's exact identity. ``missing_ok``:
    do nothing where no checkpoint was written.
    """
    if missing_ok and not os.path.isfile(checkpoint_path):
        return
    checkpoint = load_checkpoint(checkpoint_path)
    checkpoint.update(serving_info(dataset))
    save_checkpoint(checkpoint, checkpoint_path)


# --------------------------------------------------------------------------------------------
# Reading a checkpoint back for serving
# --------------------------------------------------------------------------------------------

def load_for_serving(path: str, text_encoder: str | None = None, use_id_vectors: bool = True, device: str = "cpu",
                     check_text_encoder: bool = True) -> tuple[Any, EncoderSpec, dict[str, int] | None]:
    """A UniSRec checkpoint's model (eval mode), its text encoder, and (transductive, with
    ``use_id_vectors``) the row of each raw item id in its ID embedding, else ``None``.
    The arguments are :meth:`~recbole_unisrec.serving.Recommender.from_checkpoint`'s."""
    checkpoint = load_checkpoint(path)
    config = checkpoint_config(checkpoint)
    if config.get("model") not in (None, "UniSRec"):
        raise CheckpointError(f"{path}: a {config.get('model')} checkpoint; only UniSRec checkpoints can serve new items")
    for key in REQUIRED_SETTINGS:
        if key not in config:
            raise CheckpointError(f"{path}: checkpoint config lacks {key!r}; not a UniSRec checkpoint of this project")
    state = checkpoint["state_dict"]
    model = build_model(state, config, device)
    spec = checkpoint_encoder_spec(checkpoint, config, text_encoder)
    if check_text_encoder:
        check_encoder(checkpoint, config, spec, model.plm_size, path)
    learned = None
    if use_id_vectors and model.train_stage == "transductive_ft":
        learned = learned_ids(checkpoint, config, int(state["item_embedding.weight"].shape[0]), path)
    return model, spec, learned


def learned_ids(checkpoint: dict[str, Any], config: dict[str, Any], n_rows: int, path: str) -> dict[str, int]:
    """Raw item id -> row of the checkpoint's ID embedding."""
    item_ids = checkpoint.get("item_ids")
    if not item_ids:
        tokens = checkpoint.get("item_tokens")
        folder, name = Path(str(config.get("data_path", ""))), str(config.get("dataset", ""))
        try:
            if not tokens:
                tokens = item_tokens_from_files(folder, name)
            raw_of = token_to_raw(folder, name)
        except (OSError, ValueError) as error:
            raise CheckpointError(
                f"{path}: transductive checkpoint without its item id list, and its data set cannot be read "
                f"({str(error).splitlines()[0]}); pass use_id_vectors=False to serve it text only"
            ) from None
        if not raw_of:
            raise CheckpointError(
                f"{path}: transductive checkpoint without its item id list, and {folder / (name + '.item2index')} "
                "is not there; pass use_id_vectors=False to serve it text only"
            )
        item_ids = [PAD_TOKEN] + [raw_of.get(token) for token in tokens[1:]]
    if len(item_ids) != n_rows:
        raise CheckpointError(
            f"{path}: the item id list has {len(item_ids)} entries but the ID embedding has {n_rows} rows"
        )
    return {str(raw): row for row, raw in enumerate(item_ids) if row > 0 and raw is not None}


def checkpoint_encoder_spec(checkpoint: dict[str, Any], config: dict[str, Any], text_encoder: str | None = None) -> EncoderSpec:
    """The text encoder a checkpoint's vectors come from (``text_encoder`` names a local copy of it)."""
    recorded = checkpoint.get("text_encoder") if isinstance(checkpoint.get("text_encoder"), dict) else {}
    defaults = EncoderSpec()
    return EncoderSpec(
        model=text_encoder or recorded.get("model") or config.get("text_encoder") or defaults.model,
        pooling=recorded.get("pooling") or config.get("text_pooling") or defaults.pooling,
        max_length=int(recorded.get("max_length") or config.get("text_max_length") or defaults.max_length),
        batch_size=int(config.get("text_batch_size") or defaults.batch_size),
    )


def check_encoder(checkpoint: dict[str, Any], config: dict[str, Any], spec: EncoderSpec, plm_size: int,
                  path: str = "checkpoint") -> None:
    """The text encoder available here is the one the checkpoint was trained with, else one line."""
    from recbole_unisrec.text.encoder import is_imported, model_identity, vector_size

    recorded = checkpoint.get("text_encoder") if isinstance(checkpoint.get("text_encoder"), dict) else {}
    trained_with = recorded.get("model") or config.get("text_encoder") or "default"
    try:
        identity = model_identity(spec.model)
        size = None if is_imported(spec.model) else vector_size(spec)  # imported: checked against the table
    except ModelLoadError as error:
        raise EncoderMismatchError(
            f"{path}: trained with text encoder {trained_with!r}, which is not available here "
            f"({str(error).splitlines()[0]})"
        ) from None
    if recorded.get("identity") and recorded["identity"] != identity:
        raise EncoderMismatchError(
            f"{path}: trained with text encoder {trained_with!r} (identity {recorded['identity']}), but "
            f"{spec.model!r} here is a different model (identity {identity}); use the checkpoint's encoder"
        )
    if not recorded.get("identity") and spec.model != trained_with:
        raise EncoderMismatchError(
            f"{path}: trained with text encoder {trained_with!r}, not {spec.model!r}, and records no identity "
            f"to prove them the same; use text_encoder={trained_with!r}"
        )
    if size is not None and size != plm_size:
        raise EncoderMismatchError(
            f"{path}: trained on {plm_size}-d text vectors, but text encoder {spec.model!r} gives {size}-d vectors"
        )
