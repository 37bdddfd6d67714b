"""The service runtime: migrations, the consumer loop, the four workflows and the composition root."""
