// tests/harness/list_json.hpp - the registry as JSON, for tools/make_harness_fixtures.py: the
// Python side builds inputs and runs torch from this, so shapes and attributes are written once.
#pragma once

#include <nlohmann/json.hpp>

#include "harness/registry.hpp"

namespace fbseg::harness {

inline nlohmann::json attr_json(const Attr& a) {
    return std::visit([](const auto& v) { return nlohmann::json(v); }, a);
}

inline nlohmann::json case_json(const OpCase& c) {
    nlohmann::json inputs = nlohmann::json::array();
    for (const InputSpec& s : c.inputs) {
        nlohmann::json j;
        j["shape"] = s.shape;
        j["base_shape"] = s.base_shape();
        j["domain"] = domain_name(s.domain);
        j["layout"] = layout_name(s.layout);
        j["requires_grad"] = c.differentiable && s.is_floating() && s.requires_grad;
        if (s.domain == Domain::Index) j["high"] = s.high;
        inputs.push_back(j);
    }
    nlohmann::json attrs = nlohmann::json::object();
    for (const auto& [key, value] : c.attrs.all()) attrs[key] = attr_json(value);
    return {{"id", c.id()},   {"op", c.op},           {"name", c.name},     {"inputs", inputs},
            {"attrs", attrs}, {"inplace", c.inplace}, {"parity", c.parity}, {"differentiable", c.differentiable}};
}

inline nlohmann::json registry_json() {
    nlohmann::json cases = nlohmann::json::array();
    for (const OpCase& c : registry()) cases.push_back(case_json(c));
    return {{"format", 1}, {"cases", cases}};
}

}  // namespace fbseg::harness
