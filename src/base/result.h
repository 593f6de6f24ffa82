// Result<T, E>: a value or an operating error. Operating errors are values that a
// caller can react to; programmer errors are VERIFY failures instead.
#pragma once

#include <type_traits>
#include <utility>
#include <variant>

#include "base/assert.h"

namespace weir {

template <typename E>
struct Unexpected {
  E error;
};

template <typename E>
Unexpected<E> unexpected(E error) {
  return Unexpected<E>{error};
}

template <typename T, typename E>
class [[nodiscard]] Result {
 public:
  Result(T value) : storage_(std::in_place_index<0>, std::move(value)) {}  // NOLINT
  Result(Unexpected<E> error) : storage_(std::in_place_index<1>, error.error) {}  // NOLINT

  bool ok() const { return storage_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    VERIFY(ok(), "value() of a failed Result");
    return std::get<0>(storage_);
  }
  const T& value() const& {
    VERIFY(ok(), "value() of a failed Result");
    return std::get<0>(storage_);
  }
  T&& value() && {
    VERIFY(ok(), "value() of a failed Result");
    return std::get<0>(std::move(storage_));
  }
  E error() const {
    VERIFY(!ok(), "error() of a successful Result");
    return std::get<1>(storage_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, E> storage_;
};

// Result<void, E>.
template <typename E>
class [[nodiscard]] Result<void, E> {
 public:
  Result() = default;
  Result(Unexpected<E> error) : error_(error.error), failed_(true) {}  // NOLINT
  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  E error() const {
    VERIFY(failed_, "error() of a successful Result");
    return error_;
  }

 private:
  E error_{};
  bool failed_ = false;
};

}  // namespace weir
