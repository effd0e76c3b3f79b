// Tables of typed settings: each setting is declared once (name, type, default, check, help) and
// read, written, checked and compared through its table, in a JSON form that YAML maps onto.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/device_spec.h"
#include "core/suggest.h"

namespace dsla {

/// Declares the names of enum E's values (the first name of a value is the one written out):
/// DSLA_ENUM_NAMES(Color, {Color::red, "red"}, {Color::blue, "blue"})
/// in E's namespace, so that enum_names(E{}) finds it.
#define DSLA_ENUM_NAMES(E, ...)                                                \
  inline const std::vector<std::pair<E, const char*>>& enum_names(E) {         \
    static const std::vector<std::pair<E, const char*>> names = {__VA_ARGS__}; \
    return names;                                                              \
  }

/// The name of `value` (its first declared name).
template <class E>
std::string enum_name(E value) {
  for (const auto& [v, name] : enum_names(E{})) {
    if (v == value) return name;
  }
  return fmt::format("<{}>", static_cast<int>(value));
}

/// Every accepted name, comma-separated.
template <class E>
std::string enum_choices() {
  std::string out;
  for (const auto& [v, name] : enum_names(E{}))
    out += (out.empty() ? "" : ", ") + std::string(name);
  return out;
}

/// The value named `name`, or nullopt.
template <class E>
std::optional<E> parse_enum(const std::string& name) {
  for (const auto& [v, n] : enum_names(E{})) {
    if (name == n) return v;
  }
  return std::nullopt;
}

/// A check of one value: an error message ("must be > 0, got -1") or nothing.
template <class T>
using Check = std::function<std::optional<std::string>(const T&)>;

namespace settings_detail {

/// How a JSON value is shown in messages: strings without quotes; bytes that are not UTF-8 (a
/// command-line override can hold any) as U+FFFD.
inline std::string shown(const nlohmann::json& j) {
  return j.is_string() ? j.get<std::string>()
                       : j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

template <class T, class = void>
struct Codec;

template <>
struct Codec<bool> {
  static const char* type() { return "true/false"; }
  static bool read(const nlohmann::json& j, bool& out) {
    if (!j.is_boolean()) return false;
    out = j.get<bool>();
    return true;
  }
  static nlohmann::json write(bool v) { return v; }
};

template <class T>
struct Codec<T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>>> {
  static const char* type() { return "an integer"; }
  static bool read(const nlohmann::json& j, T& out) {
    if (!j.is_number_integer()) return false;
    if constexpr (std::is_unsigned_v<T>) {
      if (!j.is_number_unsigned() && j.get<int64_t>() < 0) return false;
      out = static_cast<T>(j.get<uint64_t>());
      return static_cast<uint64_t>(out) == j.get<uint64_t>();
    } else {
      if (j.is_number_unsigned() && j.get<uint64_t>() > uint64_t{INT64_MAX}) return false;
      out = static_cast<T>(j.get<int64_t>());
      return static_cast<int64_t>(out) == j.get<int64_t>();
    }
  }
  static nlohmann::json write(T v) { return v; }
};

template <>
struct Codec<double> {
  static const char* type() { return "a number"; }
  static bool read(const nlohmann::json& j, double& out) {
    if (!j.is_number()) return false;
    out = j.get<double>();
    return true;
  }
  static nlohmann::json write(double v) { return v; }
};

template <>
struct Codec<std::string> {
  static const char* type() { return "a string"; }
  static bool read(const nlohmann::json& j, std::string& out) {
    if (j.is_string()) {
      out = j.get<std::string>();
    } else if (j.is_number_integer()) {
      out = j.dump();  // an unquoted YAML scalar such as 2024
    } else {
      return false;
    }
    return true;
  }
  static nlohmann::json write(const std::string& v) { return v; }
};

template <class E>
struct Codec<E, std::enable_if_t<std::is_enum_v<E>>> {
  static std::string type() { return "one of: " + enum_choices<E>(); }
  static bool read(const nlohmann::json& j, E& out) {
    if (!j.is_string()) return false;
    auto v = parse_enum<E>(j.get<std::string>());
    if (v) out = *v;
    return v.has_value();
  }
  static nlohmann::json write(E v) { return enum_name(v); }
};

template <class T>
struct Codec<std::vector<T>> {
  static std::string type() { return std::string("a list of ") + Codec<T>::type(); }
  static bool read(const nlohmann::json& j, std::vector<T>& out) {
    if (!j.is_array()) return false;
    std::vector<T> values(j.size());
    for (size_t i = 0; i < j.size(); ++i) {
      if (!Codec<T>::read(j[i], values[i])) return false;
    }
    out = std::move(values);
    return true;
  }
  static nlohmann::json write(const std::vector<T>& v) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& x : v) out.push_back(Codec<T>::write(x));
    return out;
  }
};

/// The message for a value `j` that is not a T.
template <class T>
struct IsVector : std::false_type {};
template <class T>
struct IsVector<std::vector<T>> : std::true_type {
  using item = T;
};

template <class T>
std::string type_error(const nlohmann::json& j) {
  if constexpr (IsVector<T>::value) {
    using Item = typename IsVector<T>::item;
    for (size_t i = 0; j.is_array() && i < j.size(); ++i) {
      Item item{};
      if (!Codec<Item>::read(j[i], item))
        return fmt::format("item {}: {}", i, type_error<Item>(j[i]));
    }
  }
  if constexpr (std::is_enum_v<T>) {
    if (j.is_string()) return fmt::format("'{}' is not one of: {}", shown(j), enum_choices<T>());
  }
  return fmt::format("cannot read '{}' as {}", shown(j), Codec<T>::type());
}

}  // namespace settings_detail

/// Reads a JSON value as a T by the settings' rules (integers only in T's range, numbers, booleans,
/// strings, enums by name, lists of these); false when `j` is not one.
template <class T>
bool read_json_value(const nlohmann::json& j, T& out) {
  return settings_detail::Codec<T>::read(j, out);
}

/// One setting of a settings struct S.
template <class S>
struct Setting {
  std::string name;
  std::string help;
  /// Reads a JSON value into its member; returns the error message when it has the wrong type.
  std::function<std::optional<std::string>(const nlohmann::json&, S&)> read;
  std::function<nlohmann::json(const S&)> write;
  /// The setting's own range check (empty message list when unchecked).
  std::function<std::optional<std::string>(const S&)> check;
  /// The default value, written out (from a default-constructed S).
  nlohmann::json default_value() const { return write(S{}); }
};

template <class S>
using SettingsTable = std::vector<Setting<S>>;

/// The table entry of member `member`: `check(value)` returns an error message or nothing.
template <class S, class T, class C>
Setting<S> make_setting(const char* name, T S::*member, C check, const char* help) {
  using codec = settings_detail::Codec<T>;
  Setting<S> s;
  s.name = name;
  s.help = help;
  s.read = [member](const nlohmann::json& j, S& out) -> std::optional<std::string> {
    T value{};
    if (!codec::read(j, value)) return settings_detail::type_error<T>(j);
    out.*member = std::move(value);
    return std::nullopt;
  };
  s.write = [member](const S& in) { return nlohmann::json(codec::write(in.*member)); };
  s.check = [member, check](const S& in) -> std::optional<std::string> {
    return check(in.*member);
  };
  return s;
}

/// Reads the keys of JSON object `j` into `out`; every problem is appended to `errors` as
/// "section.key: message", unknown keys with a suggestion. Keys not given keep their value.
template <class S>
void read_settings(const SettingsTable<S>& table, const nlohmann::json& j, S& out,
                   const std::string& section, std::vector<std::string>& errors) {
  if (j.is_null()) return;
  if (!j.is_object()) {
    errors.push_back(fmt::format("{}: expected a mapping", section));
    return;
  }
  std::vector<std::string> known;
  for (const auto& s : table) known.push_back(s.name);
  for (const auto& [key, value] : j.items()) {
    const Setting<S>* setting = nullptr;
    for (const auto& s : table) {
      if (s.name == key) setting = &s;
    }
    if (!setting) {
      errors.push_back(fmt::format("{}: unknown key '{}'{}", section, key, suggestion(key, known)));
    } else if (auto e = setting->read(value, out)) {
      errors.push_back(fmt::format("{}.{}: {}", section, key, *e));
    }
  }
}

/// Reads a stored form (written by settings_to_json): every key of the table must be present.
template <class S>
void read_stored_settings(const SettingsTable<S>& table, const nlohmann::json& j, S& out,
                          const std::string& section, std::vector<std::string>& errors) {
  if (!j.is_object()) {
    errors.push_back(fmt::format("{}: expected a mapping", section));
    return;
  }
  for (const auto& s : table) {
    if (!j.contains(s.name)) {
      errors.push_back(
          fmt::format("{}: lacks '{}' (written by another version of dsla?)", section, s.name));
    } else if (auto e = s.read(j.at(s.name), out)) {
      errors.push_back(fmt::format("{}.{}: {}", section, s.name, *e));
    }
  }
}

/// Every setting of `s` as one JSON object.
template <class S>
nlohmann::json settings_to_json(const SettingsTable<S>& table, const S& s) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& setting : table) out[setting.name] = setting.write(s);
  return out;
}

/// Runs every setting's own check; appends "section.key: message" to `errors`.
template <class S>
void check_settings(const SettingsTable<S>& table, const S& s, const std::string& section,
                    std::vector<std::string>& errors) {
  for (const auto& setting : table) {
    if (auto e = setting.check(s))
      errors.push_back(fmt::format("{}.{}: {}", section, setting.name, *e));
  }
}

/// The settings whose values differ, as "key (a vs b)".
template <class S>
std::vector<std::string> differing_settings(const SettingsTable<S>& table, const S& a, const S& b) {
  std::vector<std::string> out;
  for (const auto& s : table) {
    nlohmann::json x = s.write(a), y = s.write(b);
    if (x != y) out.push_back(fmt::format("{} ({} vs {})", s.name, x.dump(), y.dump()));
  }
  return out;
}

/// Declares the members of a settings struct from its X-macro list:
/// #define MY_SETTINGS(X) X(name, type, default, check, "help") ...
/// struct My { MY_SETTINGS(DSLA_SETTING_MEMBER) };
#define DSLA_SETTING_MEMBER(name, type, def, check, help) type name = def;
/// The table entry of one X-macro line, for a struct aliased `Self` where it is expanded.
#define DSLA_SETTING_ENTRY(name, type, def, check, help) \
  ::dsla::make_setting(#name, &Self::name, check, help),

/// Checks for table entries.
namespace checks {

struct Unchecked {
  template <class T>
  std::optional<std::string> operator()(const T&) const {
    return std::nullopt;
  }
};
inline constexpr Unchecked none{};

struct Positive {
  template <class T>
  std::optional<std::string> operator()(const T& v) const {
    if (v > 0) return std::nullopt;
    return fmt::format("must be > 0, got {}", v);
  }
};
inline constexpr Positive positive{};

/// >= 0; `note` explains what 0 means.
inline auto non_negative(const char* note = "") {
  return [note](const auto& v) -> std::optional<std::string> {
    if (v >= 0) return std::nullopt;
    return fmt::format("must be >= 0{}, got {}", note, v);
  };
}

/// In (0, 1).
inline auto open_unit() {
  return [](double v) -> std::optional<std::string> {
    if (v > 0 && v < 1) return std::nullopt;
    return fmt::format("must be in (0, 1), got {}", v);
  };
}

/// In [lo, hi) or (lo, hi] etc.: `text` is how the range is written in the message.
inline auto in_range(std::function<bool(double)> ok, const char* text) {
  return [ok, text](double v) -> std::optional<std::string> {
    if (ok(v)) return std::nullopt;
    return fmt::format("must be in {}, got {}", text, v);
  };
}

/// A device name: cpu, cuda or cuda:N (core/device_spec.h).
inline auto device() {
  return [](const std::string& v) { return device_spec_error(v); };
}

/// A non-empty string or list; `message` when empty.
inline auto required(const char* message = "required") {
  return [message](const auto& v) -> std::optional<std::string> {
    if (!v.empty()) return std::nullopt;
    return std::string(message);
  };
}

}  // namespace checks

}  // namespace dsla
