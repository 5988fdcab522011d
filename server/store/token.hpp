#pragma once
// Store tokens: what a POS presents to act for its store. The store role keeps
// only their hex SHA-256 (store_tokens.token_hash); whoever checks a token
// hashes it with token_hash(), and `dine db seed` issues them with new_token().
#include <string>
#include <string_view>

namespace dine::store {

inline constexpr std::size_t kTokenBytes = 32;  // random bytes; the token is their hex (64 characters)

// 32 bytes from getrandom(2), as 64 lower-case hex digits. Throws
// std::runtime_error when the kernel gives no randomness.
std::string new_token();

// Lower-case hex SHA-256 of the token: the only form that is stored.
std::string token_hash(std::string_view token);

// 64 lower-case hex digits: the shape of a token (and of a hash).
bool well_formed_token(std::string_view token);

}  // namespace dine::store
