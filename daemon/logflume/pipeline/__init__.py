"""The processing stages: parse → enrich → filter → aggregate → anomaly, each a function of a batch."""
