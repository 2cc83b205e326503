"""The local stack: real Kafka and Elasticsearch servers from Maven Central, bound to 127.0.0.1."""
