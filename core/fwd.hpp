#pragma once
// Forward declarations of what the runtime hands a role and the monitor:
// the topology, the clients of the datastores and of other nodes, metrics,
// single-flight and the id generator. A header that only passes these by
// pointer or reference includes this, not their (heavy) headers.
namespace dine {

struct Node;
struct Topology;
class SingleFlight;

namespace http {
class Client;
}
namespace ids {
class OrderIdGenerator;
}
namespace metrics {
class Counter;
class Registry;
}  // namespace metrics
namespace pg {
class Pool;
}
namespace redis {
class Client;
}

}  // namespace dine
