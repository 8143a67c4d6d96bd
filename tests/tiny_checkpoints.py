"""Transformers checkpoints with random weights for `newsletter models build`: tiny ones for
the tests, and a Transformer-base-sized Marian one for the translation benchmark."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tests.tiny_argos import train_tokenizer

MARIAN_TARGET_TOKENS = (">>kaz_Cyrl<<", ">>rus_Cyrl<<")


@dataclass(frozen=True)
class MarianShape:
    """The size of a Marian checkpoint. ``vocab`` is the model's vocabulary: the SentencePiece
    pieces, the target tokens and ``<pad>``, filled up with unused entries when the text the
    tokenizer was trained on gives fewer pieces (``None``: as many as it gives)."""

    layers: int = 1  # encoder layers, and as many decoder layers
    d_model: int = 16
    heads: int = 2
    ffn: int = 32
    positions: int = 256
    pieces: int = 500  # SentencePiece pieces asked for
    vocab: int | None = None


TINY = MarianShape()
# Transformer-base, the size of the OPUS-MT models: 6 + 6 layers, d512, 8 heads, FFN 2048.
BASE = MarianShape(layers=6, d_model=512, heads=8, ffn=2048, positions=512, pieces=31_998,
                   vocab=32_000)


def marian_checkpoint(folder: Path, seed: int = 0, shape: MarianShape = TINY,
                      sentences: Iterable[str] | None = None) -> Path:
    """An OPUS-MT-style multi-target Marian checkpoint: source.spm, target.spm (one
    SentencePiece model trained on ``sentences``, by default a tiny inline corpus), vocab.json
    with ``>>kaz_Cyrl<<``-style target tokens, and a model of ``shape`` with random weights."""
    import torch
    import transformers

    folder.mkdir(parents=True, exist_ok=True)
    pieces = train_tokenizer(folder, shape.pieces, sentences)
    shutil.move(folder / "sentencepiece.model", folder / "source.spm")
    shutil.copy(folder / "source.spm", folder / "target.spm")
    tokens = ["</s>", "<unk>", *MARIAN_TARGET_TOKENS, *pieces[3:]]
    tokens += [f"<unused{i}>" for i in range(max(0, (shape.vocab or 0) - len(tokens) - 1))]
    tokens.append("<pad>")
    vocab = {token: index for index, token in enumerate(tokens)}
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tokenizer = transformers.MarianTokenizer(
        source_spm=str(folder / "source.spm"), target_spm=str(folder / "target.spm"),
        vocab=str(folder / "vocab.json"),
    )
    tokenizer.save_pretrained(str(folder))
    config = transformers.MarianConfig(
        vocab_size=len(vocab), d_model=shape.d_model, encoder_layers=shape.layers,
        decoder_layers=shape.layers, encoder_attention_heads=shape.heads,
        decoder_attention_heads=shape.heads, encoder_ffn_dim=shape.ffn,
        decoder_ffn_dim=shape.ffn, max_position_embeddings=shape.positions,
        pad_token_id=vocab["<pad>"], eos_token_id=vocab["</s>"],
        decoder_start_token_id=vocab["<pad>"],
    )
    torch.manual_seed(seed)
    transformers.MarianMTModel(config).save_pretrained(str(folder))
    return folder


def nllb_checkpoint(folder: Path, seed: int = 0) -> Path:
    """An NLLB-style (M2M100) checkpoint: sentencepiece.bpe.model, the NLLB tokenizer with its
    language codes (eng_Latn, kaz_Cyrl…), and a one-layer model with random weights."""
    import torch
    import transformers

    folder.mkdir(parents=True, exist_ok=True)
    train_tokenizer(folder)
    shutil.move(folder / "sentencepiece.model", folder / "sentencepiece.bpe.model")
    tokenizer = transformers.NllbTokenizer(
        vocab_file=str(folder / "sentencepiece.bpe.model"), src_lang="eng_Latn",
        tgt_lang="kaz_Cyrl",
    )
    tokenizer.save_pretrained(str(folder))
    config = transformers.M2M100Config(
        vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
        decoder_ffn_dim=32, max_position_embeddings=256, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    transformers.M2M100ForConditionalGeneration(config).save_pretrained(str(folder))
    return folder
