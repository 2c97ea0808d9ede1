# The lab's certificate comes from its ACME server (proxy:tls:source acme): no key here.
{}
