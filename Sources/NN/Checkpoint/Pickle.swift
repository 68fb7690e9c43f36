import Foundation

/// Values the restricted unpickler produces.
indirect enum PickleValue {
    case none
    case bool(Bool)
    case int(Int)
    case float(Double)
    case string(String)
    case bytes([UInt8])
    case tuple([PickleValue])
    case list([PickleValue])
    /// Insertion-ordered key/value pairs (dict and OrderedDict).
    case dictionary([(PickleValue, PickleValue)])
    /// A whitelisted global, such as `torch._utils._rebuild_tensor_v2` or `torch FloatStorage`.
    case global(String)
    /// A storage named by a persistent id: ('storage', type, key, location, element count, …).
    case storage(key: String, dataType: String, count: Int)
    /// A tensor view of a storage (`_rebuild_tensor_v2`).
    case tensor(storageKey: String, dataType: String, storageCount: Int, offset: Int, shape: [Int], strides: [Int])
    case mark
}

/// A pickle interpreter for PyTorch state dicts and nothing else.
///
/// It implements the opcodes `torch.save` emits (protocols 2–5) and resolves only the globals a state
/// dict needs (`collections.OrderedDict`, tensor rebuild functions, storage types). Anything else —
/// arbitrary callables, `NEWOBJ` on unknown classes, extension codes — is refused, so loading an
/// untrusted checkpoint cannot execute code.
struct RestrictedUnpickler {
    static let allowedGlobals: Set<String> = [
        "collections OrderedDict", "torch._utils _rebuild_tensor_v2", "torch._utils _rebuild_tensor",
        "torch._utils _rebuild_parameter", "torch._utils _rebuild_parameter_with_state", "builtins dict",
        "torch FloatStorage", "torch DoubleStorage", "torch HalfStorage", "torch BFloat16Storage",
        "torch LongStorage", "torch IntStorage", "torch ShortStorage", "torch CharStorage", "torch ByteStorage",
        "torch BoolStorage",
    ]

    enum Failure: Error { case malformed(String), refused(String) }

    let bytes: [UInt8]
    var position: Int

    init(bytes: [UInt8], position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    mutating func read(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, position + count <= bytes.count else { throw Failure.malformed("pickle data ends early") }
        defer { position += count }
        return bytes[position..<(position + count)]
    }

    mutating func byte() throws -> UInt8 { try read(1).first! }

    mutating func littleEndian(_ count: Int) throws -> UInt64 {
        try read(count).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    }

    mutating func line() throws -> String {
        guard let end = bytes[position...].firstIndex(of: 0x0A) else { throw Failure.malformed("unterminated line") }
        defer { position = end + 1 }
        return String(decoding: bytes[position..<end], as: UTF8.self)
    }

    mutating func text(_ count: Int) throws -> String { String(decoding: try read(count), as: UTF8.self) }

    /// Runs until STOP and returns the top of the stack.
    mutating func load() throws -> PickleValue {
        var stack: [PickleValue] = []
        var memo: [Int: PickleValue] = [:]
        func pop() throws -> PickleValue {
            guard let value = stack.popLast() else { throw Failure.malformed("stack underflow") }
            return value
        }
        func popToMark() throws -> [PickleValue] {
            guard let mark = stack.lastIndex(where: { if case .mark = $0 { return true }; return false }) else {
                throw Failure.malformed("missing MARK")
            }
            let items = Array(stack[(mark + 1)...])
            stack.removeSubrange(mark...)
            return items
        }
        func setItems(_ items: [PickleValue]) throws {
            guard items.count % 2 == 0, case .dictionary(var pairs) = try pop() else { throw Failure.malformed("SETITEMS on a non-dict") }
            for index in stride(from: 0, to: items.count, by: 2) { pairs.append((items[index], items[index + 1])) }
            stack.append(.dictionary(pairs))
        }
        func appendItems(_ items: [PickleValue]) throws {
            guard case .list(var list) = try pop() else { throw Failure.malformed("APPENDS on a non-list") }
            list += items
            stack.append(.list(list))
        }
        func global(_ name: String) throws -> PickleValue {
            guard RestrictedUnpickler.allowedGlobals.contains(name) else {
                throw Failure.refused("the checkpoint references '\(name.replacingOccurrences(of: " ", with: "."))', which a state dict does not need")
            }
            return .global(name)
        }
        while true {
            let opcode = try byte()
            switch opcode {
            case 0x80: _ = try byte()                                            // PROTO
            case 0x95: _ = try read(8)                                           // FRAME
            case 0x2E: return try pop()                                          // STOP
            case 0x28: stack.append(.mark)                                       // MARK
            case 0x7D: stack.append(.dictionary([]))                             // EMPTY_DICT
            case 0x5D: stack.append(.list([]))                                   // EMPTY_LIST
            case 0x29: stack.append(.tuple([]))                                  // EMPTY_TUPLE
            case 0x74: stack.append(.tuple(try popToMark()))                     // TUPLE
            case 0x85: stack.append(.tuple([try pop()]))                         // TUPLE1
            case 0x86: let b = try pop(), a = try pop(); stack.append(.tuple([a, b]))          // TUPLE2
            case 0x87: let c = try pop(), b = try pop(), a = try pop(); stack.append(.tuple([a, b, c]))  // TUPLE3
            case 0x6C: stack.append(.list(try popToMark()))                      // LIST
            case 0x64:                                                           // DICT
                let items = try popToMark()
                guard items.count % 2 == 0 else { throw Failure.malformed("odd DICT") }
                stack.append(.dictionary(stride(from: 0, to: items.count, by: 2).map { (items[$0], items[$0 + 1]) }))
            case 0x71: memo[Int(try byte())] = stack.last                        // BINPUT
            case 0x72: memo[Int(try littleEndian(4))] = stack.last               // LONG_BINPUT
            case 0x94: memo[memo.count] = stack.last                             // MEMOIZE
            case 0x68, 0x6A:                                                     // BINGET, LONG_BINGET
                let index = opcode == 0x68 ? Int(try byte()) : Int(try littleEndian(4))
                guard let value = memo[index] else { throw Failure.malformed("memo \(index) is empty") }
                stack.append(value)
            case 0x4A: stack.append(.int(Int(Int32(bitPattern: UInt32(try littleEndian(4))))))   // BININT
            case 0x4B: stack.append(.int(Int(try byte())))                       // BININT1
            case 0x4D: stack.append(.int(Int(try littleEndian(2))))              // BININT2
            case 0x8A:                                                           // LONG1
                let count = Int(try byte())
                guard count <= 8 else {
                    _ = try read(count)
                    stack.append(.int(0))   // large longs (the legacy magic number) are only compared by size
                    break
                }
                let raw = try littleEndian(count)
                let shift = UInt64(64 - 8 * count)
                stack.append(.int(count == 0 ? 0 : Int(Int64(bitPattern: raw << shift) >> Int64(shift))))
            case 0x4E: stack.append(.none)                                       // NONE
            case 0x88: stack.append(.bool(true))                                 // NEWTRUE
            case 0x89: stack.append(.bool(false))                                // NEWFALSE
            case 0x47: stack.append(.float(Double(bitPattern: UInt64(bigEndian: try read(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }))))  // BINFLOAT
            case 0x58: stack.append(.string(try text(Int(try littleEndian(4)))))  // BINUNICODE
            case 0x8C: stack.append(.string(try text(Int(try byte()))))           // SHORT_BINUNICODE
            case 0x8D: stack.append(.string(try text(Int(try littleEndian(8)))))  // BINUNICODE8
            case 0x54: stack.append(.string(try text(Int(try littleEndian(4)))))  // BINSTRING
            case 0x55: stack.append(.string(try text(Int(try byte()))))           // SHORT_BINSTRING
            case 0x42: stack.append(.bytes(Array(try read(Int(try littleEndian(4))))))   // BINBYTES
            case 0x43: stack.append(.bytes(Array(try read(Int(try byte())))))            // SHORT_BINBYTES
            case 0x63:                                                           // GLOBAL
                let module = try line(), name = try line()
                stack.append(try global(module + " " + name))
            case 0x93:                                                           // STACK_GLOBAL
                guard case .string(let name) = try pop(), case .string(let module) = try pop() else {
                    throw Failure.malformed("STACK_GLOBAL needs two strings")
                }
                stack.append(try global(module + " " + name))
            case 0x73: let value = try pop(), key = try pop(); try setItems([key, value])   // SETITEM
            case 0x75: try setItems(try popToMark())                             // SETITEMS
            case 0x61: try appendItems([try pop()])                              // APPEND
            case 0x65: try appendItems(try popToMark())                          // APPENDS
            case 0x62:                                                           // BUILD
                _ = try pop()   // the state (an OrderedDict's _metadata, a parameter's attributes): not needed
            case 0x51:                                                           // BINPERSID
                stack.append(try persistent(try pop()))
            case 0x52:                                                           // REDUCE
                let arguments = try pop(), callable = try pop()
                stack.append(try reduce(callable, arguments))
            default:
                throw Failure.refused(String(format: "pickle opcode 0x%02X is not part of a state dict", opcode))
            }
        }
    }

    func persistent(_ identifier: PickleValue) throws -> PickleValue {
        guard case .tuple(let fields) = identifier, fields.count >= 5, case .string("storage") = fields[0],
              case .global(let type) = fields[1], case .string(let key) = fields[2], case .int(let count) = fields[4]
        else { throw Failure.malformed("unexpected persistent id") }
        return .storage(key: key, dataType: String(type.split(separator: " ").last ?? ""), count: count)
    }

    func reduce(_ callable: PickleValue, _ arguments: PickleValue) throws -> PickleValue {
        guard case .global(let name) = callable, case .tuple(let values) = arguments else {
            throw Failure.malformed("REDUCE without a global and a tuple")
        }
        switch name {
        case "collections OrderedDict", "builtins dict":
            return .dictionary([])
        case "torch._utils _rebuild_tensor_v2", "torch._utils _rebuild_tensor":
            guard values.count >= 4, case .storage(let key, let dataType, let count) = values[0], case .int(let offset) = values[1],
                  case .tuple(let shape) = values[2], case .tuple(let strides) = values[3] else {
                throw Failure.malformed("unexpected tensor arguments")
            }
            func integers(_ items: [PickleValue]) throws -> [Int] {
                try items.map { guard case .int(let value) = $0 else { throw Failure.malformed("non-integer size") }; return value }
            }
            return .tensor(storageKey: key, dataType: dataType, storageCount: count, offset: offset,
                           shape: try integers(shape), strides: try integers(strides))
        case "torch._utils _rebuild_parameter", "torch._utils _rebuild_parameter_with_state":
            guard let tensor = values.first, case .tensor = tensor else { throw Failure.malformed("parameter without a tensor") }
            return tensor
        default:
            throw Failure.refused("calling '\(name)' is not allowed")
        }
    }
}
