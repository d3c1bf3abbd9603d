"""The mutants `python -m tests.mutate` runs: plausible one-line bugs the suite must catch.

Each replaces `original` (which must occur exactly once in `file`; tests/test_suite_rules.py
checks) by `replacement`; `tests` are the test files tried first. The first nine are bugs
that only tests against hand-computed values catch (tests/test_against_definitions.py).
"""
from typing import NamedTuple


class Mutant(NamedTuple):
    name: str
    file: str
    original: str
    replacement: str
    tests: tuple = ()


DEFS = "tests/test_against_definitions.py"
SAMPLING = "minitx/models/gpt/sampling.py"
GPT = "minitx/models/gpt/model.py"
TRAINER = "minitx/training/trainer.py"
KERNEL_LSTM = "tests/test_kernels_lstm.py"
NN_RNN = "tests/test_nn_rnn.py"

MUTANTS = [
    # ---- caught only against the definitions ---------------------------------------------
    Mutant("top_p_drops_the_crossing_token", SAMPLING,
           "keep_sorted = np.cumsum(sorted_p, axis=-1) - sorted_p < top_p",
           "keep_sorted = np.cumsum(sorted_p, axis=-1) < top_p", (DEFS,)),
    Mutant("temperature_multiplies", SAMPLING,
           "logits = logits / temperature", "logits = logits * temperature", (DEFS,)),
    Mutant("window_keeps_the_first_half", "minitx/models/gpt/generate.py",
           "logits = model(ids[:, -window:], kv_caches=caches", "logits = model(ids[:, :window], kv_caches=caches",
           (DEFS,)),
    Mutant("trainer_never_clips", TRAINER,
           "cfg.grad_clip or math.inf)", "math.inf)", (DEFS,)),
    Mutant("trainer_uses_the_next_steps_lr", TRAINER,
           "lr = cfg.lr_at(self.step)", "lr = cfg.lr_at(step)", (DEFS,)),
    Mutant("mlm_accuracy_counts_misses", "minitx/training/metrics.py",
           "hits += int((logits.data.argmax(-1) == labels).sum())",
           "hits += int((logits.data.argmax(-1) != labels).sum())", (DEFS,)),
    Mutant("gelu_tanh_constant", "minitx/kernels/numba/gelu.py",
           "_K = 0.044715", "_K = 0.04715", (DEFS, "tests/test_kernels_gelu.py")),
    Mutant("gpt2_c_proj_not_transposed", "minitx/models/gpt/hf.py",
           '_CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", ',
           '_CONV1D = ("attn.c_attn.weight", ', (DEFS,)),
    Mutant("cross_entropy_blocks_skip_their_first_row", "minitx/kernels/numba/cross_entropy.py",
           "block_start(blk, N), block_start(blk + 1, N), blk)",
           "block_start(blk, N) + 1, block_start(blk + 1, N), blk)",
           (DEFS, "tests/test_kernels_cross_entropy.py")),

    # ---- kernels: layer norm --------------------------------------------------------------
    Mutant("layernorm_twin_eps_outside_the_sqrt", "minitx/kernels/layernorm.py",
           "rstd = 1.0 / np.sqrt(var + eps)", "rstd = 1.0 / np.sqrt(var) + eps",
           ("tests/test_kernels_layernorm.py",)),
    Mutant("layernorm_twin_backward_mean_term", "minitx/kernels/layernorm.py",
           "- dxhat.sum(axis=-1, keepdims=True) / C", "- dxhat.sum(axis=-1, keepdims=True) / (C + 1)",
           ("tests/test_kernels_layernorm.py",)),
    Mutant("layernorm_variance_without_the_mean", "minitx/kernels/numba/layernorm.py",
           "max(s2 / C - (s1 / C) ** 2, 0.0)", "max(s2 / C, 0.0)", ("tests/test_kernels_layernorm.py",)),
    Mutant("layernorm_dweight_without_xhat", "minitx/kernels/numba/layernorm.py",
           "dw_run[j] += dyi[j] * xhat[j]", "dw_run[j] += dyi[j]", ("tests/test_kernels_layernorm.py",)),
    Mutant("layernorm_last_run_not_flushed", "minitx/kernels/numba/layernorm.py",
           "if i % FLUSH_ROWS == FLUSH_ROWS - 1 or i == R - 1:", "if i % FLUSH_ROWS == FLUSH_ROWS - 1:",
           ("tests/test_kernels_layernorm.py",)),

    # ---- kernels: recurrent layers (RNN, LSTM, GRU) ----------------------------------------
    Mutant("lstm_twin_forget_gradient_reads_the_new_cell", "minitx/kernels/lstm.py",
           "di, df, dg = dc * g, dc * c_prev[t], dc * i", "di, df, dg = dc * g, dc * hc[1, t], dc * i",
           (KERNEL_LSTM, NN_RNN)),
    Mutant("lstm_twin_backward_drops_the_carried_dc", "minitx/kernels/lstm.py",
           "dc = dhc[1, t] + dc_next", "dc = dhc[1, t]", (KERNEL_LSTM, NN_RNN)),
    Mutant("lstm_forget_gate_scales_the_previous_hidden_state", "minitx/kernels/numba/lstm.py",
           "c[b, j] = ab[H + j] * c_prev[b, j] + ab[j] * ab[2 * H + j]",
           "c[b, j] = ab[H + j] * h_prev[b, j] + ab[j] * ab[2 * H + j]", (KERNEL_LSTM, NN_RNN)),
    Mutant("lstm_backward_drops_the_carried_dc", "minitx/kernels/numba/lstm.py",
           "dc = dhc[1, t, b, j] + gc[j]", "dc = dhc[1, t, b, j]", (KERNEL_LSTM, NN_RNN)),
    Mutant("rnn_tanh_derivative_without_the_square", "minitx/kernels/numba/rnn.py",
           "dh * (one - o[b, j] * o[b, j])", "dh * (one - o[b, j])", (KERNEL_LSTM, NN_RNN)),
    Mutant("products_skip_the_last_row_past_a_multiple_of_4", "minitx/kernels/numba/rnn.py",
           "for i in range(R4, R):", "for i in range(R4, R - 1):", (KERNEL_LSTM, NN_RNN)),
    Mutant("gru_direct_path_takes_the_other_side_of_z", "minitx/kernels/numba/gru.py",
           "gh[j] = dh * z", "gh[j] = dh * (one - z)", (KERNEL_LSTM, NN_RNN)),
    Mutant("recurrences_never_hand_large_steps_to_blas", "minitx/kernels/rnn.py",
           "return xw.shape[1] * weight_hh.size >= BLAS_MIN_MACS", "return False", (KERNEL_LSTM,)),
    Mutant("lstm_backward_compiled_after_the_twins_forward", "minitx/kernels/lstm.py",
           "backward = lstm_backward_numpy if ctx.twin else lstm_backward", "backward = lstm_backward",
           (KERNEL_LSTM,)),
    Mutant("rnn_layers_init_by_the_input_size", "minitx/nn/rnn.py",
           "bound, GH = 1 / math.sqrt(hidden_size)", "bound, GH = 1 / math.sqrt(input_size)", (NN_RNN,)),
    Mutant("rnn_layers_drop_the_last_layers_output", "minitx/nn/rnn.py",
           "if self.dropout and self.training and k < self.num_layers - 1:",
           "if self.dropout and self.training:", (NN_RNN,)),
    Mutant("rnn_layers_batch_first_output_left_time_major", "minitx/nn/rnn.py",
           "out = x if not batched else x.transpose(0, 1) if self.batch_first else x", "out = x", (NN_RNN,)),

    # ---- kernels: softmax -------------------------------------------------------------------
    Mutant("softmax_twin_backward_dot_outside", "minitx/kernels/softmax.py",
           "return (y * (dy - dot)).astype(y.dtype)", "return (y * dy - dot).astype(y.dtype)",
           ("tests/test_kernels_softmax.py",)),
    Mutant("softmax_backward_forgets_y_in_the_dot", "minitx/kernels/numba/softmax.py",
           "dot = y.dtype.type(row_dot(dyi, yi))", "dot = y.dtype.type(row_sum(dyi))",
           ("tests/test_kernels_softmax.py",)),
    Mutant("log_softmax_backward_without_exp", "minitx/kernels/numba/softmax.py",
           "dxi[j] = dyi[j] - poly_exp(yi[j]) * total", "dxi[j] = dyi[j] - yi[j] * total",
           ("tests/test_kernels_softmax.py",)),
    # Reached only through pair.launch, so only from pair.MIN_ELEMENTS (tests: kernel_path).
    Mutant("pair_blocks_skip_their_last_row", "minitx/kernels/numba/pair.py",
           "return carray(atomic.pointer(job[ARRAYS + k], a * C, dtype), (b - a, C))",
           "return carray(atomic.pointer(job[ARRAYS + k], a * C, dtype), (max(b - a - 1, 0), C))",
           ("tests/test_kernels_softmax.py", "tests/test_kernels_pair.py")),
    Mutant("pair_worker_claims_from_the_front", "minitx/kernels/numba/pair.py",
           "blk = front if who == 0 else BLOCKS - 1 - back", "blk = front if who == 0 else back",
           ("tests/test_kernels_pair.py",)),

    # ---- kernels: cross-entropy ---------------------------------------------------------------
    Mutant("cross_entropy_twin_smoothing_not_over_V", "minitx/kernels/cross_entropy.py",
           "dx = p - label_smoothing / V", "dx = p - label_smoothing", ("tests/test_kernels_cross_entropy.py",)),
    Mutant("cross_entropy_target_ignores_smoothing", "minitx/kernels/numba/cross_entropy.py",
           "dxi[targets[i]] -= dx.dtype.type(g[i] * (1 - label_smoothing))",
           "dxi[targets[i]] -= dx.dtype.type(g[i])", ("tests/test_kernels_cross_entropy.py",)),
    Mutant("cross_entropy_mean_gradient_over_ignored_rows_too", "minitx/kernels/cross_entropy.py",
           "scale = 1.0 / ctx.count if", "scale = 1.0 / len(ctx.valid) if",
           ("tests/test_kernels_cross_entropy.py",)),

    # ---- kernels: GELU, embedding, dropout ------------------------------------------------------
    Mutant("gelu_twin_tanh_constant", "minitx/kernels/gelu.py",
           "u = math.sqrt(2 / math.pi) * (x64 + 0.044715 * x64 ** 3)",
           "u = math.sqrt(2 / math.pi) * (x64 + 0.04715 * x64 ** 3)", ("tests/test_kernels_gelu.py",)),
    Mutant("gelu_twin_exact_backward_without_x_phi", "minitx/kernels/gelu.py",
           "d = cdf + x64 * np.exp(-0.5 * x64 * x64) / math.sqrt(2 * math.pi)", "d = cdf",
           ("tests/test_kernels_gelu.py",)),
    Mutant("gelu_tanh_backward_du_without_3", "minitx/kernels/numba/gelu.py",
           "du = c * (one + k3 * xi * xi)", "du = c * (one + k * xi * xi)", ("tests/test_kernels_gelu.py",)),
    Mutant("bias_gelu_drops_the_last_run_of_rows", "minitx/kernels/numba/gelu.py",
           "if (i - r0) % FLUSH_ROWS == FLUSH_ROWS - 1 or i == r1 - 1:",
           "if (i - r0) % FLUSH_ROWS == FLUSH_ROWS - 1:", ("tests/test_kernels_linear_gelu.py",)),
    Mutant("block_sums_skip_the_last_block", "minitx/kernels/numba/_jit.py",
           "total[j] += partial[blk, j]", "total[j] += partial[min(blk, BLOCKS - 2), j]",
           ("tests/test_kernels_linear_gelu.py", "tests/test_kernels_layernorm.py")),
    Mutant("linear_gelu_forward_without_bias", "minitx/kernels/linear_gelu.py",
           "y = bias_gelu_forward(h, bias, approximate)", "y = bias_gelu_forward(h, 0 * bias, approximate)",
           ("tests/test_kernels_linear_gelu.py",)),
    Mutant("embedding_twin_repeated_ids_overwrite", "minitx/kernels/embedding.py",
           "np.add.at(dweight, ids, dout)", "dweight[ids] = dout", ("tests/test_kernels_embedding.py",)),
    Mutant("embedding_padding_row_gets_a_gradient", "minitx/kernels/numba/embedding.py",
           "if v != padding_idx:", "if True:", ("tests/test_kernels_embedding.py",)),
    Mutant("dropout_does_not_rescale", "minitx/kernels/dropout.py",
           "return 1 / (1 - p) if p < 1 else 0.0", "return 1.0 if p < 1 else 0.0",
           ("tests/test_kernels_linear_dropout.py",)),

    # ---- kernels: attention -------------------------------------------------------------------
    Mutant("attention_twin_unscaled_scores", "minitx/kernels/attention.py",
           "s = scale * (q @ k.swapaxes(-1, -2))", "s = q @ k.swapaxes(-1, -2)",
           ("tests/test_kernels_attention.py", "tests/test_kernels_attention_qkv.py")),
    Mutant("attention_twin_backward_row_sum", "minitx/kernels/attention.py",
           "D = np.sum(dout * out, axis=-1, keepdims=True)", "D = np.sum(dout, axis=-1, keepdims=True)",
           ("tests/test_kernels_attention.py",)),
    Mutant("attention_twin_causal_mask_ignores_the_cache", "minitx/kernels/attention.py",
           "k=Tk - Tq)", "k=0)", ("tests/test_kernels_attention.py",)),
    Mutant("attention_causal_keys_ignore_the_cache", "minitx/kernels/numba/attention_blocks.py",
           "min(Tk, i + Tk - Tq + 1)", "min(Tk, i + 1)", ("tests/test_kernels_attention.py",)),
    Mutant("attention_dropout_does_not_rescale", "minitx/kernels/attention.py",
           "dropout_scale = 1 / (1 - dropout_p) if dropout_p < 1 else 0.0",
           "dropout_scale = 1.0 if dropout_p < 1 else 0.0", ("tests/test_kernels_attention.py",)),

    # ---- kernels: rotary positions -------------------------------------------------------------
    Mutant("rotary_rotate_half_wrong_sign", "minitx/kernels/rotary.py",
           "return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)",
           "return np.concatenate([x[..., half:], -x[..., :half]], axis=-1)", ("tests/test_kernels_rotary.py",)),
    Mutant("rotary_backward_rotates_by_plus_angle", "minitx/kernels/rotary.py",
           "return dy * cos - rotate_half(dy) * sin", "return dy * cos + rotate_half(dy) * sin",
           ("tests/test_kernels_rotary.py",)),
    Mutant("rotary_compiled_backward_turns_forward", "minitx/kernels/numba/rotary.py",
           "c, s = cos[bc, 0, t, i], sign * sin[bc, 0, t, i]", "c, s = cos[bc, 0, t, i], sin[bc, 0, t, i]",
           ("tests/test_kernels_rotary.py",)),
    Mutant("rotary_compiled_every_row_at_the_first_rows_positions", "minitx/kernels/numba/rotary.py",
           "bc = b if cos.shape[0] > 1 else 0", "bc = 0", ("tests/test_kernels_rotary.py",)),
    Mutant("sinusoidal_table_ignores_position_ids", GPT,
           "return tok + Tensor(self.position_table[position_ids])",
           "return tok + Tensor(self.position_table[:ids.shape[1]])", ("tests/test_positions.py",)),
    Mutant("rotary_cache_positions_restart", "minitx/nn/transformer.py",
           "past, T = (cache.length if cache else 0), x.shape[1]", "past, T = 0, x.shape[1]",
           ("tests/test_positions.py",)),

    # ---- output_attentions ----------------------------------------------------------------------
    Mutant("attentions_before_the_padding_mask", "minitx/nn/transformer.py",
           "s = np.where(mask, s, -np.inf) if mask.dtype == np.bool_ else s + mask", "s = s",
           ("tests/test_attentions.py",)),
    Mutant("attentions_before_the_causal_mask", "minitx/nn/transformer.py",
           "s = np.where(np.tril(np.ones((Tq, Tk), np.bool_), k=Tk - Tq), s, -np.inf)", "s = s",
           ("tests/test_attentions.py",)),

    # ---- AdamW ----------------------------------------------------------------------------------
    Mutant("adamw_twin_no_second_bias_correction", "minitx/optim/adamw_step.py",
           "denom = np.sqrt(v) / (1 - beta2 ** step) ** 0.5 + eps", "denom = np.sqrt(v) + eps",
           ("tests/test_kernels_adamw.py", "tests/test_optim.py")),
    Mutant("adamw_decay_without_lr", "minitx/kernels/numba/adamw_step.py",
           "decay = 1 - lr * weight_decay if decoupled else 1.0", "decay = 1 - weight_decay if decoupled else 1.0",
           ("tests/test_kernels_adamw.py", "tests/test_optim.py")),
    Mutant("adamw_first_moment_not_averaged", "minitx/kernels/numba/adamw_step.py",
           "mi = b1 * m[i] + one_minus_b1 * gi", "mi = b1 * m[i] + gi",
           ("tests/test_kernels_adamw.py", "tests/test_optim.py")),
    Mutant("adam_step_counted_twice", "minitx/optim/adam.py",
           'state["step"] += 1', 'state["step"] += 2', ("tests/test_optim.py", "tests/test_optim_parity.py")),

    # ---- autograd -------------------------------------------------------------------------------
    Mutant("unbroadcast_skips_the_first_axis", "minitx/ops/_util.py",
           "if n == 1 and grad.shape[extra + i] != 1)", "if n == 1 and i > 0 and grad.shape[extra + i] != 1)",
           ("tests/test_ops_arithmetic.py",)),
    Mutant("leaf_grad_overwritten", "minitx/grad_buffers.py",
           "        t.grad += g", "        t.grad = np.array(g, dtype=t.dtype)", ("tests/test_tensor.py",)),
    Mutant("pending_grad_overwritten", "minitx/grad_buffers.py",
           "pending[key] = acc + gi", "pending[key] = gi", ("tests/test_tensor.py",)),

    # ---- sampling and generation ------------------------------------------------------------------
    Mutant("top_k_drops_the_kth", SAMPLING,
           "logits = np.where(logits < kth, -np.inf, logits)", "logits = np.where(logits <= kth, -np.inf, logits)",
           (DEFS, "tests/test_gpt.py")),
    Mutant("greedy_takes_the_least_likely", SAMPLING,
           "return logits.argmax(axis=-1)", "return logits.argmin(axis=-1)", ("tests/test_gpt.py",)),
    Mutant("kv_cache_positions_restart", GPT,
           "past = kv_caches[0].length if kv_caches else 0", "past = 0", ("tests/test_gpt.py",)),
    Mutant("kv_cache_returns_keys_as_values", "minitx/nn/transformer.py",
           "Tensor(self.v[:, :, :self.length])", "Tensor(self.k[:, :, :self.length])", ("tests/test_gpt.py",)),

    # ---- training ---------------------------------------------------------------------------------
    Mutant("nan_loss_not_caught", TRAINER,
           "if self.world.size == 1 and not math.isfinite(value):", "if self.world.size == 1 and math.isinf(value):",
           ("tests/test_train.py",)),
    Mutant("grad_accum_not_averaged", TRAINER,
           "(loss * (1.0 / cfg.grad_accum) if cfg.grad_accum > 1 else loss).backward()", "loss.backward()",
           ("tests/test_train.py", DEFS)),
    Mutant("cosine_ignores_the_warmup", "minitx/optim/lr_scheduler.py",
           "progress = (step - warmup_steps) / (max_steps - warmup_steps)  # 0 -> 1", "progress = step / max_steps",
           ("tests/test_optim.py",)),
    Mutant("clip_coefficient_square_root", "minitx/optim/clip.py",
           "clip_coef = max_norm / (total + 1e-6)", "clip_coef = (max_norm / (total + 1e-6)) ** 0.5",
           ("tests/test_optim.py",)),
    Mutant("token_f1_counts_outside_hits", "minitx/training/metrics.py",
           "tp += int(((pred == gold) & (gold != outside)).sum())", "tp += int((pred == gold).sum())",
           ("tests/test_bert_train.py", "tests/test_pipelines.py")),

    # ---- checkpoints ------------------------------------------------------------------------------
    Mutant("checkpoint_old_deleted_before_the_swap", "minitx/training/checkpoint.py",
           "os.rename(path, old)", "shutil.rmtree(path)", ("tests/test_checkpoint.py",)),
    Mutant("checkpoint_files_not_verified", "minitx/training/checkpoint.py",
           "_verify(os.path.join(path, name), info)", "pass", ("tests/test_checkpoint.py",)),

    # ---- tokenizers -------------------------------------------------------------------------------
    Mutant("bpe_merges_leftmost_not_lowest_rank", "minitx/tokenizers/bpe.py",
           "rank = min(ranks.get(pair, no_merge) for pair in zip(parts, parts[1:]))",
           "rank = next((ranks[p] for p in zip(parts, parts[1:]) if p in ranks), no_merge)",
           ("tests/test_tokenizer_bpe.py",)),
    Mutant("wordpiece_without_the_hash_prefix", "minitx/tokenizers/wordpiece.py",
           "piece = word[start:end] if start == 0 else self.PREFIX + word[start:end]",
           "piece = word[start:end]", ("tests/test_tokenizer_wordpiece.py",)),
    Mutant("wordpiece_shortest_match_first", "minitx/tokenizers/wordpiece.py",
           "for end in range(min(len(word), start + self._longest), start, -1):",
           "for end in range(start + 1, min(len(word), start + self._longest) + 1):",
           ("tests/test_tokenizer_wordpiece.py",)),

    # ---- BERT masking: 80% [MASK], 10% random, 10% unchanged ---------------------------------------
    Mutant("masking_70_percent_mask", "minitx/data/bert.py",
           "out = np.where(chosen & (u < 0.8), self.mask_id, ids)", "out = np.where(chosen & (u < 0.7), self.mask_id, ids)",
           ("tests/test_bert_data.py",)),
    Mutant("masking_rounds_the_count_down", "minitx/data/bert.py",
           "np.rint(self.mlm_probability * n_eligible)", "np.floor(self.mlm_probability * n_eligible)",
           ("tests/test_bert_data.py",)),
    Mutant("masking_no_random_tokens", "minitx/data/bert.py",
           "out = np.where(chosen & (u >= 0.8) & (u < 0.9), random_ids, out)", "out = out",
           ("tests/test_bert_data.py",)),

    # ---- distributed --------------------------------------------------------------------------------
    Mutant("allreduce_gradients_not_averaged", "minitx/distributed/buckets.py",
           "scale = 1.0 / self.world.size", "scale = 1.0", ("tests/test_distributed.py",)),
    Mutant("world_mean_is_a_sum", "minitx/distributed/world.py",
           "return self.allreduce_sum(array, what) / self.size", "return self.allreduce_sum(array, what)",
           ("tests/test_distributed.py",)),

    # ---- loading pretrained folders -----------------------------------------------------------------
    Mutant("loaded_parameters_keep_the_sources_layout", "minitx/nn/module.py",
           'p.data = np.array(value, dtype=p.dtype, order="C", copy=True)',
           "p.data = np.array(value, dtype=p.dtype, copy=True)", ("tests/test_nn_module.py",)),
    Mutant("gpt_from_pretrained_in_training_mode", "minitx/models/gpt/hf.py",
           "return model.to(dtype).eval()", "return model.to(dtype)", ("tests/test_gpt_parity.py",)),

    # ---- baselines: TF-IDF, logistic regression, n-gram smoothing ------------------------------------
    Mutant("idf_smooths_the_df_not_the_document_count", "minitx/baselines/vectorizers.py",
           "n, df = n + 1, df + 1", "n, df = n, df + 1", ("tests/test_baselines_vectorizers.py",)),
    Mutant("tfidf_l2_norm_without_the_sqrt", "minitx/baselines/vectorizers.py",
           "np.sqrt((X * X).sum(axis=1))", "(X * X).sum(axis=1)", ("tests/test_baselines_vectorizers.py",)),
    Mutant("ngrams_stop_one_short", "minitx/baselines/vectorizers.py",
           "for n in range(max(min_n, 2), min(max_n, len(words)) + 1):",
           "for n in range(max(min_n, 2), min(max_n, len(words))):", ("tests/test_baselines_vectorizers.py",)),
    Mutant("logistic_penalty_twice_as_strong", "minitx/baselines/logistic.py",
           "penalty = Tensor(X), 1.0 / (2 * self.C * N)", "penalty = Tensor(X), 1.0 / (self.C * N)",
           ("tests/test_baselines_logistic.py",)),
    Mutant("kneser_ney_backoff_weight_without_the_discount", "minitx/baselines/ngram.py",
           "level = (np.maximum(c - d, 0) + d * types * p) / total",
           "level = (np.maximum(c - d, 0) + types * p) / total", ("tests/test_baselines_ngram.py",)),
    Mutant("kneser_ney_discount_can_go_negative", "minitx/baselines/ngram.py",
           "np.maximum(c - d, 0)", "(c - d)", ("tests/test_baselines_ngram.py",)),
    Mutant("kneser_ney_raw_counts_at_every_order", "minitx/baselines/ngram.py",
           'if self.smoothing == "add_k" or m == self.n:', 'if True:', ("tests/test_baselines_ngram.py",)),
    Mutant("add_k_denominator_without_the_vocabulary", "minitx/baselines/ngram.py",
           "level = (c + k) / (total + k * V)", "level = (c + k) / (total + k)", ("tests/test_baselines_ngram.py",)),

    # ---- pictures (minitx.viz) ----------------------------------------------------------------------
    Mutant("viz_kept_mass_after_renormalising", "minitx/viz/sampling.py",
           '"kept": float(unfiltered[probs > 0].sum())', '"kept": float(probs[probs > 0].sum())',
           ("tests/test_viz.py",)),
    Mutant("viz_entropy_in_nats", "minitx/viz/sampling.py",
           "return float(-(p * np.log2(p)).sum())", "return float(-(p * np.log(p)).sum())", ("tests/test_viz.py",)),
    Mutant("viz_similarity_against_position_not_distance", "minitx/viz/position.py",
           "right.plot(np.arange(T) - i, dots[i]", "right.plot(np.arange(T), dots[i]", ("tests/test_viz.py",)),
    Mutant("viz_attention_rows_are_keys", "minitx/viz/attention.py",
           "image = ax.imshow(heads[h],", "image = ax.imshow(heads[h].T,", ("tests/test_viz.py",)),
    Mutant("viz_validation_curve_draws_the_train_mean", "minitx/viz/loss.py",
           'val = [(r["step"], r["val_loss"])', 'val = [(r["step"], r["train_loss"])', ("tests/test_viz.py",)),

    # ---- the learning-rate schedule of a resumed run -------------------------------------------------
    Mutant("extended_schedule_restarts_at_the_peak", TRAINER,
           "decay_from_lr=float(self.lr_at(step))", "decay_from_lr=float(self.lr)", ("tests/test_cli.py",)),

    # ---- pipelines ----------------------------------------------------------------------------------
    Mutant("zero_shot_scores_the_first_logit", "minitx/pipelines/zero_shot.py",
           "scores = softmax(logits[..., entail])", "scores = softmax(logits[..., 0])",
           ("tests/test_pipelines_parity.py",)),
    Mutant("zero_shot_multi_label_takes_contradiction", "minitx/pipelines/zero_shot.py",
           "logits[..., [contradiction, entail]])[..., 1]", "logits[..., [contradiction, entail]])[..., 0]",
           ("tests/test_pipelines_parity.py",)),

    # ---- stopping and resuming ----------------------------------------------------------------------
    Mutant("only_ctrl_c_stops_a_run_with_a_save", TRAINER,
           '("SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1")', '("SIGINT",)', ("tests/test_signals.py",)),

    # ---- generation options -------------------------------------------------------------------------
    Mutant("repetition_penalty_rewards_negative_logits", "minitx/models/gpt/generate.py",
           "seen = np.where(seen < 0, seen * penalty, seen / penalty)", "seen = seen / penalty",
           ("tests/test_generate.py",)),
    Mutant("ngram_ban_looks_one_token_short", "minitx/models/gpt/generate.py",
           "tail = tuple(row[len(row) - n + 1:])", "tail = tuple(row[len(row) - n + 2:])",
           ("tests/test_generate.py",)),
    Mutant("stop_strings_never_end_a_row", "minitx/models/gpt/generate.py",
           "done[row] = any(s in text for s in stops)", "done[row] = False", ("tests/test_generate.py",)),

    # ---- the run report ------------------------------------------------------------------------------
    Mutant("report_ticks_take_the_next_step_up", "minitx/report/svg.py",
           "return min((m * power for m in (1, 2, 5, 10)), key=lambda step: abs(math.log(step / raw)))",
           "return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)", ("tests/test_report.py",)),
    Mutant("report_log_axis_places_values_linearly", "minitx/report/svg.py",
           "v = math.log10(value) if self.log else value", "v = value", ("tests/test_report.py",)),
    Mutant("report_y_axis_rounds_its_bounds_inward", "minitx/report/svg.py",
           "lo, hi = _clean(math.floor(lo / step + 1e-9) * step, step), _clean(math.ceil(hi / step - 1e-9) * step, step)",
           "lo, hi = _clean(round(lo / step) * step, step), _clean(round(hi / step) * step, step)",
           ("tests/test_report.py",)),
    Mutant("report_thinning_keeps_the_first_of_each_bucket", "minitx/report/svg.py",
           "i = min(chunk, key=lambda j: ys[j])", "i = chunk[0]", ("tests/test_report.py",)),
    Mutant("report_resume_keeps_the_lost_records_at_its_step", "minitx/report/series.py",
           'kept = [k for k in kept if k["step"] < step]', 'kept = [k for k in kept if k["step"] != step]',
           ("tests/test_report.py",)),
    Mutant("report_csv_header_from_the_first_record", "minitx/report/metrics_csv.py",
           "seen.update(dict.fromkeys(r))", "seen.update(dict.fromkeys(r) if len(seen) == len(FIRST) else {})",
           ("tests/test_report.py",)),
    Mutant("report_generated_text_unescaped", "minitx/report/html.py",
           "{escape(r['text'])}</pre>", "{r['text']}</pre>", ("tests/test_report.py",)),
]
