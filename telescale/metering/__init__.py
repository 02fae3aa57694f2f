"""The metering agent (`telescale agent`): sources (pollsters, exporters' `/metrics`, OpenStack
inventories, notifications on AMQP) → a pipeline of per-series transformers → a batching publisher that
talks to the Telescale API over HTTP like any client, buffering to local disk while the API is away."""
