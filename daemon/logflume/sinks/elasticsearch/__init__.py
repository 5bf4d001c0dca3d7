"""The Elasticsearch / OpenSearch sink: config, bulk encoding and classification, template, clients."""
