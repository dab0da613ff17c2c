-- wrk script: every request is a PROPFIND with Depth: 1 (the 207 scenarios).
wrk.method = "PROPFIND"
wrk.headers["Depth"] = "1"
