"""Real Elasticsearch and OpenSearch nodes for the tests: install layout, launcher, health wait."""
