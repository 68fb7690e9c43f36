import Foundation

/// JSON values in a model file's string metadata: how every self-describing model file stores its configurations.
enum ModelMetadata {
    /// `value` as compact JSON ("{}" if it cannot be encoded).
    static func json<T: Encodable>(_ value: T) -> String {
        (try? JSONEncoder().encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// The value of `key` decoded from JSON, or `failure(key)` when it is missing or malformed.
    static func decode<T: Decodable>(_ type: T.Type, _ key: String, in metadata: [String: String], failure: (String) -> Error) throws -> T {
        guard let text = metadata[key], let value = try? JSONDecoder().decode(T.self, from: Data(text.utf8)) else { throw failure(key) }
        return value
    }
}
