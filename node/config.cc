#include "node/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "base/bytes.h"

namespace node {

std::string_view to_string(Provider p) {
  switch (p) {
    case Provider::kTcp:
      return "tcp";
    case Provider::kShm:
      return "shm";
    case Provider::kSockets:
      return "sockets";
    case Provider::kVerbs:
      return "verbs";
  }
  return "?";
}

std::string_view to_string(Placement p) {
  switch (p) {
    case Placement::kInterleave:
      return "interleave";
    case Placement::kRange:
      return "range";
    case Placement::kFirstTouch:
      return "first-touch";
  }
  return "?";
}

std::string_view fabric_provider_name(Provider p) {
  return p == Provider::kTcp ? "tcp;ofi_rxm" : to_string(p);
}

const NodeConfig* ClusterConfig::find(std::string_view node_name) const {
  int i = index_of(node_name);
  return i < 0 ? nullptr : &nodes[static_cast<size_t>(i)];
}

const NodeConfig* ClusterConfig::primary() const {
  for (const auto& n : nodes) {
    if (n.primary) return &n;
  }
  return nullptr;
}

int ClusterConfig::index_of(std::string_view node_name) const {
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i].name == node_name) return static_cast<int>(i);
  }
  return -1;
}

base::StatusOr<HostPort> split_host_port(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return base::Error(fmt::format("\"{}\" is not \"host:port\"", text), EINVAL);
  }
  std::string_view host = text.substr(0, colon);
  std::string_view port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || ptr != port_text.data() + port_text.size() || port == 0 ||
      port > 65535) {
    return base::Error(fmt::format("\"{}\" has no valid port (1-65535) after the ':'", text),
                       EINVAL);
  }
  return HostPort{std::string(host), static_cast<uint16_t>(port)};
}

namespace {

using base::Error;
using base::Status;
using base::StatusOr;

// Collects the context of one parse so each check can name file, line, field.
class Parser {
 public:
  Parser(std::string_view source, std::filesystem::path base_dir)
      : source_(source), base_dir_(std::move(base_dir)) {}

  StatusOr<ClusterConfig> parse(std::string_view text);

 private:
  static uint32_t line_of(const toml::node& n) { return n.source().begin.line; }

  Error error(uint32_t line, std::string_view field, std::string_view what) const {
    if (line == 0) line = 1;
    return Error(fmt::format("{}:{}: {}: {}", source_, line, field, what), EINVAL);
  }

  static std::string_view type_name(const toml::node& n) {
    switch (n.type()) {
      case toml::node_type::table:
        return "a table";
      case toml::node_type::array:
        return "an array";
      case toml::node_type::string:
        return "a string";
      case toml::node_type::integer:
        return "an integer";
      case toml::node_type::floating_point:
        return "a float";
      case toml::node_type::boolean:
        return "a boolean";
      case toml::node_type::date:
        return "a date";
      case toml::node_type::time:
        return "a time";
      case toml::node_type::date_time:
        return "a date-time";
      default:
        return "nothing";
    }
  }

  // Refuses keys outside `allowed`; the first stray key (in file order) wins.
  Status check_keys(const toml::table& t, std::string_view prefix,
                    std::initializer_list<std::string_view> allowed) const {
    const toml::key* first = nullptr;
    for (auto&& [k, v] : t) {
      if (std::find(allowed.begin(), allowed.end(), k.str()) != allowed.end()) continue;
      if (!first || k.source().begin < first->source().begin) first = &k;
    }
    if (!first) return {};
    std::string list;
    for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    return error(first->source().begin.line, field(prefix, first->str()),
                 fmt::format("unknown field (expected one of: {})", list));
  }

  static std::string field(std::string_view prefix, std::string_view key) {
    return prefix.empty() ? std::string(key) : fmt::format("{}.{}", prefix, key);
  }

  // A required or optional string; `present` tells which.
  StatusOr<std::optional<std::string>> get_string(const toml::table& t, std::string_view prefix,
                                                  std::string_view key, bool required) const {
    const toml::node* n = t.get(key);
    if (!n) {
      if (required) return error(line_of(t), field(prefix, key), "missing (required)");
      return std::optional<std::string>();
    }
    auto s = n->value<std::string>();
    if (!n->is_string() || !s) {
      return error(line_of(*n), field(prefix, key),
                   fmt::format("expected a string, got {}", type_name(*n)));
    }
    if (s->empty()) return error(line_of(*n), field(prefix, key), "must not be empty");
    return std::optional<std::string>(*s);
  }

  StatusOr<std::string> require_string(const toml::table& t, std::string_view prefix,
                                       std::string_view key) const {
    const toml::node* n = t.get(key);
    if (!n) return error(line_of(t), field(prefix, key), "missing (required)");
    if (!n->is_string()) {
      return error(line_of(*n), field(prefix, key),
                   fmt::format("expected a string, got {}", type_name(*n)));
    }
    std::string s = *n->value<std::string>();
    if (s.empty()) return error(line_of(*n), field(prefix, key), "must not be empty");
    return s;
  }

  // A size as a string ("2GiB") or a whole number of bytes; must be > 0 and
  // page aligned, since memory is handed out in pages.
  StatusOr<uint64_t> require_size(const toml::table& t, std::string_view prefix,
                                  std::string_view key) const {
    if (!t.get(key)) return error(line_of(t), field(prefix, key), "missing (required)");
    return *TRY(get_size(t, prefix, key, false));
  }

  StatusOr<std::optional<uint64_t>> get_size(const toml::table& t, std::string_view prefix,
                                             std::string_view key, bool required) const {
    const toml::node* n = t.get(key);
    if (!n) {
      if (required) return error(line_of(t), field(prefix, key), "missing (required)");
      return std::optional<uint64_t>();
    }
    uint64_t bytes = 0;
    if (n->is_string()) {
      auto parsed = base::parse_size(*n->value<std::string>());
      if (!parsed.ok()) return error(line_of(*n), field(prefix, key), parsed.error().message());
      bytes = *parsed;
    } else if (n->is_integer()) {
      int64_t v = *n->value<int64_t>();
      if (v <= 0)
        return error(line_of(*n), field(prefix, key),
                     fmt::format("size {} must be greater than zero", v));
      bytes = static_cast<uint64_t>(v);
    } else {
      return error(line_of(*n), field(prefix, key),
                   fmt::format("expected a size such as \"2GiB\", got {}", type_name(*n)));
    }
    if (bytes % base::kPageSize != 0) {
      return error(line_of(*n), field(prefix, key),
                   fmt::format("{} bytes is not a multiple of the 4 KiB page size", bytes));
    }
    return std::optional<uint64_t>(bytes);
  }

  StatusOr<std::string> resolve_secret(const std::string& value, uint32_t line) const;
  Status parse_cluster(const toml::table& root, ClusterConfig& c) const;
  Status parse_guest(const toml::table& root, ClusterConfig& c) const;
  Status parse_nodes(const toml::table& root, ClusterConfig& c) const;

  std::string source_;
  std::filesystem::path base_dir_;
};

StatusOr<std::string> Parser::resolve_secret(const std::string& value, uint32_t line) const {
  static constexpr std::string_view kFile = "file:";
  if (value.rfind(kFile, 0) != 0) return value;
  std::filesystem::path path(value.substr(kFile.size()));
  if (path.empty()) return error(line, "cluster.secret", "\"file:\" needs a path");
  // A relative path is relative to the config file, not to the working dir.
  if (path.is_relative()) path = base_dir_ / path;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return error(
        line, "cluster.secret",
        fmt::format("cannot read secret file {}: {}", path.string(), std::strerror(errno)));
  }
  std::stringstream buf;
  buf << in.rdbuf();
  std::string s = buf.str();
  auto is_space = [](unsigned char ch) { return std::isspace(ch) != 0; };
  while (!s.empty() && is_space(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t start = 0;
  while (start < s.size() && is_space(static_cast<unsigned char>(s[start]))) ++start;
  s.erase(0, start);
  if (s.empty())
    return error(line, "cluster.secret", fmt::format("secret file {} is empty", path.string()));
  return s;
}

Status Parser::parse_cluster(const toml::table& root, ClusterConfig& c) const {
  const toml::node* n = root.get("cluster");
  if (!n) return error(1, "cluster", "missing [cluster] table (required)");
  const toml::table* t = n->as_table();
  if (!t)
    return error(line_of(*n), "cluster", fmt::format("expected a table, got {}", type_name(*n)));
  TRY(check_keys(*t, "cluster", {"name", "secret", "provider", "protocol", "placement"}));

  c.name = TRY(require_string(*t, "cluster", "name"));
  std::string secret = TRY(require_string(*t, "cluster", "secret"));
  c.secret = TRY(resolve_secret(secret, line_of(*t->get("secret"))));

  if (auto p = TRY(get_string(*t, "cluster", "provider", false))) {
    static const std::map<std::string, Provider, std::less<>> kProviders = {
        {"tcp", Provider::kTcp},
        {"shm", Provider::kShm},
        {"sockets", Provider::kSockets},
        {"verbs", Provider::kVerbs}};
    auto it = kProviders.find(*p);
    if (it == kProviders.end()) {
      return error(line_of(*t->get("provider")), "cluster.provider",
                   fmt::format("unknown provider \"{}\" (tcp, shm, sockets, verbs)", *p));
    }
    c.provider = it->second;
  }
  if (auto p = TRY(get_string(*t, "cluster", "protocol", false))) c.protocol = *p;
  if (auto p = TRY(get_string(*t, "cluster", "placement", false))) {
    static const std::map<std::string, Placement, std::less<>> kPlacements = {
        {"interleave", Placement::kInterleave},
        {"range", Placement::kRange},
        {"first-touch", Placement::kFirstTouch}};
    auto it = kPlacements.find(*p);
    if (it == kPlacements.end()) {
      return error(line_of(*t->get("placement")), "cluster.placement",
                   fmt::format("unknown placement \"{}\" (interleave, range, first-touch)", *p));
    }
    c.placement = it->second;
  }
  return {};
}

Status Parser::parse_guest(const toml::table& root, ClusterConfig& c) const {
  const toml::node* n = root.get("guest");
  if (!n) return {};
  const toml::table* t = n->as_table();
  if (!t)
    return error(line_of(*n), "guest", fmt::format("expected a table, got {}", type_name(*n)));
  TRY(check_keys(*t, "guest", {"memory", "cmdline"}));
  if (auto m = TRY(get_size(*t, "guest", "memory", false))) c.guest.memory = *m;
  if (const toml::node* cmd = t->get("cmdline")) {
    if (!cmd->is_string()) {
      return error(line_of(*cmd), "guest.cmdline",
                   fmt::format("expected a string, got {}", type_name(*cmd)));
    }
    c.guest.cmdline = *cmd->value<std::string>();  // may be empty
  }
  return {};
}

Status Parser::parse_nodes(const toml::table& root, ClusterConfig& c) const {
  const toml::node* n = root.get("node");
  if (!n) return error(1, "node", "no [[node]] entries (at least one is required)");
  const toml::array* arr = n->as_array();
  if (!arr || !arr->is_array_of_tables()) {
    return error(line_of(*n), "node",
                 fmt::format("expected [[node]] tables, got {}", type_name(*n)));
  }
  if (arr->empty())
    return error(line_of(*n), "node", "no [[node]] entries (at least one is required)");

  // Every TCP endpoint in the cluster (data and control) must be distinct.
  std::map<std::string, std::string> endpoints;  // "host:port" -> who uses it
  int primary_index = -1;
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::table& t = *arr->get(i)->as_table();
    std::string prefix = fmt::format("node[{}]", i);
    TRY(check_keys(t, prefix, {"name", "address", "memory", "primary", "control"}));
    NodeConfig node;
    node.name = TRY(require_string(t, prefix, "name"));
    if (c.index_of(node.name) >= 0) {
      return error(line_of(*t.get("name")), prefix + ".name",
                   fmt::format("duplicate node name \"{}\"", node.name));
    }
    std::string address = TRY(require_string(t, prefix, "address"));
    uint32_t address_line = line_of(*t.get("address"));
    auto hp = split_host_port(address);
    if (!hp.ok()) return error(address_line, prefix + ".address", hp.error().message());
    node.host = hp->host;
    node.port = hp->port;
    // shm: every node on one host, named after its address (rpc/PROTOCOL.md,
    // "Addresses"); the host is compared as written.
    if (c.provider == Provider::kShm && i > 0 && node.host != c.nodes[0].host) {
      return error(address_line, prefix + ".address",
                   fmt::format("provider \"shm\" joins nodes on one host only, but host \"{}\" "
                               "differs from node[0]'s \"{}\" (use provider \"tcp\" across hosts)",
                               node.host, c.nodes[0].host));
    }
    if (c.provider == Provider::kShm && node.host.find('/') != std::string::npos) {
      return error(address_line, prefix + ".address",
                   fmt::format("host \"{}\" cannot be part of an shm name (no '/')", node.host));
    }
    node.memory = TRY(require_size(t, prefix, "memory"));
    if (const toml::node* p = t.get("primary")) {
      if (!p->is_boolean()) {
        return error(line_of(*p), prefix + ".primary",
                     fmt::format("expected true or false, got {}", type_name(*p)));
      }
      node.primary = *p->value<bool>();
      if (node.primary && primary_index >= 0) {
        return error(line_of(*p), prefix + ".primary",
                     fmt::format("a second primary (node[{}] \"{}\" is already primary)",
                                 primary_index, c.nodes[static_cast<size_t>(primary_index)].name));
      }
      if (node.primary) primary_index = static_cast<int>(i);
    }
    uint32_t control_line = address_line;
    if (auto ctl = TRY(get_string(t, prefix, "control", false))) {
      control_line = line_of(*t.get("control"));
      node.control = *ctl;
      if (node.control.rfind("unix:", 0) == 0) {
        if (node.control.size() == 5)
          return error(control_line, prefix + ".control", "\"unix:\" needs a socket path");
      } else {
        auto chp = split_host_port(node.control);
        if (!chp.ok()) {
          return error(control_line, prefix + ".control",
                       chp.error().message() + " (use \"host:port\" or \"unix:/path\")");
        }
      }
    } else {
      if (node.port == 65535) {
        return error(
            address_line, prefix + ".address",
            "port 65535 leaves no room for the default control port (port+1); set control");
      }
      node.control = fmt::format("{}:{}", node.host, node.port + 1);
    }
    // Data endpoint first, so a clash names the field that causes it.
    std::string data_ep = fmt::format("{}:{}", node.host, node.port);
    if (auto it = endpoints.find(data_ep); it != endpoints.end()) {
      return error(address_line, prefix + ".address",
                   fmt::format("{} is already {}", data_ep, it->second));
    }
    endpoints[data_ep] = fmt::format("{}'s address", prefix);
    if (auto it = endpoints.find(node.control); it != endpoints.end()) {
      return error(control_line, prefix + ".control",
                   fmt::format("{} is already {}", node.control, it->second));
    }
    endpoints[node.control] = fmt::format("{}'s control address", prefix);
    c.nodes.push_back(std::move(node));
  }
  return {};
}

StatusOr<ClusterConfig> Parser::parse(std::string_view text) {
  toml::table root;
  try {
    root = toml::parse(text, source_);
  } catch (const toml::parse_error& e) {
    return Error(
        fmt::format("{}:{}: syntax error: {}", source_, e.source().begin.line, e.description()),
        EINVAL);
  }
  for (auto&& [k, v] : root) {
    if (k.str() != "cluster" && k.str() != "guest" && k.str() != "node") {
      return error(k.source().begin.line, k.str(),
                   "unknown field (expected [cluster], [guest] or [[node]])");
    }
  }
  ClusterConfig c;
  c.source = source_;
  TRY(parse_cluster(root, c));
  TRY(parse_guest(root, c));
  TRY(parse_nodes(root, c));
  if (c.guest.memory == 0) {
    for (const auto& n : c.nodes) c.guest.memory += n.memory;
  }
  return c;
}

}  // namespace

base::StatusOr<ClusterConfig> parse_config(std::string_view text, std::string_view source) {
  return Parser(source, std::filesystem::current_path()).parse(text);
}

base::StatusOr<ClusterConfig> load_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return base::Error::from_errno(fmt::format("{}: cannot open", path), errno ? errno : ENOENT);
  std::stringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return base::Error::from_errno(fmt::format("{}: cannot read", path));
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  return Parser(path, dir).parse(buf.str());
}

uint64_t cache_budget_frames(const NodeConfig& node, uint64_t region_frames) {
  const uint64_t given = std::max(node.memory / 4096, kMinCacheFrames);
  return given >= region_frames ? 0 : given;
}

}  // namespace node
