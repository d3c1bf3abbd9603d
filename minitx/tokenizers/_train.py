"""Learning merges: the training loop shared by byte-level BPE and WordPiece.

Both start from words split into base symbols (bytes for BPE, characters for
WordPiece) and repeatedly merge the most frequent adjacent pair into a new
symbol. Counting every pair afresh after each merge costs O(corpus) per merge;
instead we keep the pair counts and, per pair, the words it occurs in, and
after a merge recount only the words that contained the merged pair.
"""

import heapq
from collections import Counter, defaultdict


def learn_merges(word_counts, vocab, vocab_size, join, min_frequency=2):
    """Merge pairs until `vocab` has `vocab_size` tokens; return the merges.

    word_counts: {tuple of token ids: how often that word occurs}.
    vocab: token strings by id, grown in place; `join(left, right)` names the
    token a merge makes. A merge that makes a token already in `vocab` (the same
    string reached by another pair) reuses its id, so tokens stay unique.
    Stops early when no pair occurs `min_frequency` times.
    Returns [(left id, right id)] in the order learned: its index is the rank.
    """
    words = [list(word) for word in word_counts]
    counts = list(word_counts.values())
    token_id = {token: i for i, token in enumerate(vocab)}

    pair_count = Counter()
    pair_words = defaultdict(set)  # pair -> indices of the words it (may) occur in
    for w, (word, n) in enumerate(zip(words, counts)):
        for pair in zip(word, word[1:]):
            pair_count[pair] += n
            pair_words[pair].add(w)
    # Max-heap by count, ties to the smallest pair of ids, so runs are deterministic.
    # Entries go stale when a count changes; a fresh entry is pushed then and
    # stale ones are skipped when popped.
    heap = [(-n, pair) for pair, n in pair_count.items()]
    heapq.heapify(heap)

    merges = []
    while len(vocab) < vocab_size and heap:
        neg_count, pair = heapq.heappop(heap)
        if pair_count.get(pair) != -neg_count:
            continue
        if -neg_count < min_frequency:
            break
        token = join(vocab[pair[0]], vocab[pair[1]])
        if token not in token_id:
            token_id[token] = len(vocab)
            vocab.append(token)
        merges.append(pair)

        delta = Counter()
        for w in pair_words.pop(pair):
            word, n = words[w], counts[w]
            merged = merge_pair(word, pair, token_id[token])
            if len(merged) == len(word):
                continue  # an earlier merge in this word already took the pair apart
            for old in zip(word, word[1:]):
                delta[old] -= n
            for new in zip(merged, merged[1:]):
                delta[new] += n
                pair_words[new].add(w)
            words[w] = merged
        for changed, d in delta.items():
            if d:
                pair_count[changed] += d
                if pair_count[changed] > 0:
                    heapq.heappush(heap, (-pair_count[changed], changed))
                else:
                    del pair_count[changed]
    return merges


def merge_pair(word, pair, new):
    """`word` with each non-overlapping occurrence of `pair`, left to right, replaced by `new`."""
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and word[i] == pair[0] and word[i + 1] == pair[1]:
            out.append(new)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out
