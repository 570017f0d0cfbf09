"""Word-level search loops (greedy, sampled, beam) that stop when every sequence is done.

``tfreport.decoding`` builds reports from these loops. They replace the keras-hub samplers'
own ``__call__`` loop (issue #21), keeping the samplers' arithmetic, so the tokens are the
same:

- **Stopping.** A loop ends once ``done(prompt, index)`` holds for every row (every beam).
  A flat report ends at its empty sentence (``</S>`` after ``</S>``), which keras-hub's
  stop-token test cannot express, so its loop always ran all ``max_tokens`` steps.
- **Beams.** Beams are reordered with one row gather on the flattened batch. keras-hub's
  ``take_along_axis`` broadcasts its indices to the full shape of every cache tensor, and
  for M2's key/value caches that gather was the costliest op of beam decoding.
- **Same tokens.** Probabilities and the next token come from the keras-hub sampler object
  (``compute_probabilities``, ``get_next_token``). The beam step is keras-hub's: log
  probabilities, then an unsorted top-k over beams x vocabulary, then the best beam or all
  beams sorted.
- **Same random stream.** A loop that used to run to the end (a flat report's) and now
  stops early advances the sampler's seed generator by the steps it skipped
  (``full_stream``), so later batches draw what they drew before. A sampler with
  ``token_at(probabilities, index)`` draws by position instead, with no state (the SCST
  stage's keyed sampler, which each replica of a strategy keys by its id).
"""
from __future__ import annotations

from typing import Callable

from keras import ops, tree

# next_fn(prompt, state, index) -> (logits [N, V], None, new state)
NextFn = Callable
# done(prompt, index) -> [N] bool: the row's sequence has ended
DoneFn = Callable


def search(next_fn: NextFn, prompt, state, index: int, mask, done: DoneFn, sampler,
           num_beams: int = 1, return_all_beams: bool = False, full_stream: bool = False):
    """Runs ``sampler`` (a keras-hub Greedy/Random/BeamSampler) from position ``index``
    until every row is ``done`` or the prompt is full.

    ``mask`` [B, L] marks positions that are given (never overwritten). Returns the prompt
    [B, L]; with ``num_beams`` > 1 the best beam, or with ``return_all_beams`` (beams
    [B, K, L], log-probabilities [B, K]) sorted best first. ``full_stream``: a sampler's
    seed generator ends where a loop over every position would have left it."""
    if num_beams > 1:
        return _beam(next_fn, prompt, state, index, mask, done, sampler, num_beams,
                     return_all_beams)
    max_length = ops.shape(prompt)[1]
    mask = ops.cast(mask, "bool")

    def cond(prompt, state, index):
        return ops.logical_not(ops.all(done(prompt, index)))

    def body(prompt, state, index):
        logits, _, state = next_fn(prompt, state, index)
        probabilities = sampler.compute_probabilities(logits)
        token = ops.cast(sampler.token_at(probabilities, index) if hasattr(sampler, "token_at")
                         else sampler.get_next_token(probabilities), prompt.dtype)
        token = ops.where(mask[:, index], prompt[:, index], token)
        return _write(prompt, token, index), state, index + 1

    start = ops.cast(index, "int32")
    prompt, _, end = ops.while_loop(cond, body, (prompt, state, start),
                                    maximum_iterations=max_length - start)
    generator = getattr(sampler, "seed_generator", None)
    if full_stream and generator is not None:  # one draw per skipped step
        skipped = ops.cast(max_length - end, generator.state.dtype)
        generator.state.assign(generator.state + ops.stack([ops.zeros_like(skipped), skipped]))
    return prompt


def _beam(next_fn, prompt, state, index, mask, done, sampler, k: int, return_all: bool):
    b, length = ops.shape(prompt)[0], ops.shape(prompt)[1]
    repeat = lambda x: ops.repeat(x, k, axis=0)  # noqa: E731  [b0, b0, b0, b1, ...]
    prompt, mask = repeat(prompt), repeat(ops.cast(mask, "bool"))
    state = tree.map_structure(repeat, state)
    log_probs = ops.broadcast_to(ops.array([[0.0] + [-1e9] * (k - 1)], "float32"), (b, k))
    log_probs = ops.reshape(log_probs, (-1,))
    first_row = ops.arange(b, dtype="int32")[:, None] * k  # each study's first beam row

    def cond(prompt, state, index, log_probs):
        return ops.logical_not(ops.all(done(prompt, index)))

    def body(prompt, state, index, log_probs):
        logits, _, state = next_fn(prompt, state, index)
        vocab = ops.shape(logits)[-1]
        scores = ops.log(sampler.compute_probabilities(logits)) + log_probs[:, None]
        scores, indices = ops.top_k(ops.reshape(scores, (-1, k * vocab)), k=k, sorted=False)
        rows = ops.reshape(first_row + ops.cast(indices // vocab, "int32"), (-1,))
        token = ops.cast(ops.reshape(indices % vocab, (-1,)), prompt.dtype)
        log_probs = ops.reshape(scores, (-1,))
        prompt = ops.take(prompt, rows, axis=0)
        state = tree.map_structure(lambda x: ops.take(x, rows, axis=0), state)
        token = ops.where(mask[:, index], prompt[:, index], token)
        return _write(prompt, token, index), state, index + 1, log_probs

    start = ops.cast(index, "int32")
    prompt, _, _, log_probs = ops.while_loop(cond, body, (prompt, state, start, log_probs),
                                             maximum_iterations=length - start)
    beams = ops.reshape(prompt, (b, k, length))
    log_probs = ops.reshape(log_probs, (b, k))
    if return_all:
        order = ops.argsort(-log_probs, axis=-1)
        return (ops.take_along_axis(beams, order[:, :, None], axis=1),
                ops.take_along_axis(log_probs, order, axis=1))
    best = ops.argmax(log_probs, axis=-1)[:, None, None]
    return ops.squeeze(ops.take_along_axis(beams, best, axis=1), axis=1)


def _write(prompt, token, index):
    """The prompt [N, L] with ``token`` [N] at column ``index`` (a select: see
    ``tfreport.layers.meshed_decoder.write_at``)."""
    at = ops.equal(ops.arange(ops.shape(prompt)[1]), index)[None, :]
    return ops.where(at, token[:, None], prompt)

