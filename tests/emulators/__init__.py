"""Wire-level fakes of the services coursebot talks to, started by tests on 127.0.0.1, port 0."""
