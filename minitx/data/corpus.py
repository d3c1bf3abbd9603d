"""The built-in corpus: the Python reference manual that every CPython ships.

`pydoc_data.topics.topics` holds the text `help('if')` prints: 79 topics, about
465 KB of English prose with code examples, written by the Python developers.
It needs no download, so `minitx train gpt` works on a fresh machine.
"""

NAME = "pydoc_data.topics (the Python reference manual)"


def _topics():
    try:
        from pydoc_data.topics import topics
    except ImportError:
        raise RuntimeError("the built-in corpus needs pydoc_data, which this Python lacks "
                           "(some distributions strip it); pass --data FILE instead") from None
    return topics


def builtin_documents():
    """The topics as a list of documents, ordered by topic name (e.g. for next-sentence pairs)."""
    topics = _topics()
    return [topics[name].strip("\n") for name in sorted(topics)]


def builtin_text():
    """The whole corpus as one string, documents separated by a blank line."""
    return "\n\n".join(builtin_documents()) + "\n"
