"""Sample workload: count words in a file, hash it, and write a small JSON report to a temp file.

Recorded for sample_traces/python-wordcount.trace.json; uses only the standard library.
"""

import collections
import hashlib
import json
import sys
import tempfile

path = sys.argv[1] if len(sys.argv) > 1 else "/etc/services"
with open(path, encoding="utf-8", errors="replace") as fh:
    text = fh.read()
words = collections.Counter(w.lower() for w in text.split() if w.isalpha())
report = {"file": path, "sha256": hashlib.sha256(text.encode()).hexdigest(),
          "words": sum(words.values()), "top": words.most_common(3)}
with tempfile.NamedTemporaryFile("w", suffix=".json", delete=True) as out:
    json.dump(report, out)
    out.flush()
print(report["words"], "words;", "top:", ", ".join(w for w, _ in report["top"]))
