package clickhouse

import (
	"net/http"
	"strings"

	"github.com/drover-dev/drover/internal/httpclient"
)

// Class is what a failed insert means for its events.
type Class uint8

const (
	// Transient: the server may accept the same insert later (overload,
	// timeouts, replication trouble, network). It is sent again after a
	// backoff.
	Transient Class = iota + 1
	// Permanent: the same insert cannot succeed (unknown table or column,
	// syntax, authentication, access). Its events are discarded.
	Permanent
	// DataError: a row does not fit the table (a value of the wrong type,
	// unparsable text). When the server names the row ("(at row N)"), only
	// that event is discarded and the others are sent again; otherwise the
	// whole insert is discarded, as with Permanent.
	DataError
)

// String names the class for logs.
func (c Class) String() string {
	switch c {
	case Transient:
		return "transient"
	case Permanent:
		return "permanent"
	case DataError:
		return "data error"
	}
	return "unknown"
}

type codeInfo struct {
	name  string
	class Class
}

// codes is the table of the ClickHouse error codes the sink knows. It is
// documented, row by row, in docs/components/sink-clickhouse.md (a test
// keeps both in step). A code that is not here is classified by the HTTP
// status of the answer: 408, 429 and 5xx are transient, others permanent.
var codes = map[int]codeInfo{
	// Transient: overload, limits that reset, replication and network
	// trouble.
	159:  {"TIMEOUT_EXCEEDED", Transient},
	160:  {"TOO_SLOW", Transient},
	173:  {"CANNOT_ALLOCATE_MEMORY", Transient},
	201:  {"QUOTA_EXPIRED", Transient},
	202:  {"TOO_MANY_SIMULTANEOUS_QUERIES", Transient},
	203:  {"NO_FREE_CONNECTION", Transient},
	209:  {"SOCKET_TIMEOUT", Transient},
	210:  {"NETWORK_ERROR", Transient},
	218:  {"TABLE_IS_DROPPED", Transient},
	225:  {"NO_ZOOKEEPER", Transient},
	236:  {"ABORTED", Transient},
	241:  {"MEMORY_LIMIT_EXCEEDED", Transient},
	242:  {"TABLE_IS_READ_ONLY", Transient},
	243:  {"NOT_ENOUGH_SPACE", Transient},
	244:  {"UNEXPECTED_ZOOKEEPER_ERROR", Transient},
	252:  {"TOO_MANY_PARTS", Transient},
	254:  {"NO_ACTIVE_REPLICAS", Transient},
	265:  {"NO_AVAILABLE_REPLICA", Transient},
	279:  {"ALL_CONNECTION_TRIES_FAILED", Transient},
	285:  {"TOO_FEW_LIVE_REPLICAS", Transient},
	286:  {"UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE", Transient},
	289:  {"REPLICA_IS_NOT_IN_QUORUM", Transient},
	319:  {"UNKNOWN_STATUS_OF_INSERT", Transient},
	364:  {"RECEIVED_ERROR_TOO_MANY_REQUESTS", Transient},
	384:  {"PART_IS_TEMPORARILY_LOCKED", Transient},
	394:  {"QUERY_WAS_CANCELLED", Transient},
	415:  {"ALL_REPLICAS_LOST", Transient},
	425:  {"SYSTEM_ERROR", Transient},
	439:  {"CANNOT_SCHEDULE_TASK", Transient},
	473:  {"DEADLOCK_AVOIDED", Transient},
	999:  {"KEEPER_EXCEPTION", Transient},
	1000: {"POCO_EXCEPTION", Transient},

	// Permanent: the statement, the table or the user is wrong.
	8:   {"THERE_IS_NO_COLUMN", Permanent},
	10:  {"NOT_FOUND_COLUMN_IN_BLOCK", Permanent},
	16:  {"NO_SUCH_COLUMN_IN_TABLE", Permanent},
	20:  {"NUMBER_OF_COLUMNS_DOESNT_MATCH", Permanent},
	36:  {"BAD_ARGUMENTS", Permanent},
	44:  {"ILLEGAL_COLUMN", Permanent},
	46:  {"UNKNOWN_FUNCTION", Permanent},
	47:  {"UNKNOWN_IDENTIFIER", Permanent},
	48:  {"NOT_IMPLEMENTED", Permanent},
	60:  {"UNKNOWN_TABLE", Permanent},
	62:  {"SYNTAX_ERROR", Permanent},
	73:  {"UNKNOWN_FORMAT", Permanent},
	81:  {"UNKNOWN_DATABASE", Permanent},
	85:  {"FORMAT_IS_NOT_SUITABLE_FOR_INPUT", Permanent},
	89:  {"UNKNOWN_COMPRESSION_METHOD", Permanent},
	115: {"UNKNOWN_SETTING", Permanent},
	164: {"READONLY", Permanent},
	192: {"UNKNOWN_USER", Permanent},
	193: {"WRONG_PASSWORD", Permanent},
	194: {"REQUIRED_PASSWORD", Permanent},
	195: {"IP_ADDRESS_NOT_ALLOWED", Permanent},
	291: {"DATABASE_ACCESS_DENIED", Permanent},
	452: {"SETTING_CONSTRAINT_VIOLATION", Permanent},
	471: {"INVALID_SETTING_VALUE", Permanent},
	472: {"READONLY_SETTING", Permanent},
	497: {"ACCESS_DENIED", Permanent},
	516: {"AUTHENTICATION_FAILED", Permanent},

	// Data errors: one row does not fit the table.
	6:   {"CANNOT_PARSE_TEXT", DataError},
	25:  {"CANNOT_PARSE_ESCAPE_SEQUENCE", DataError},
	26:  {"CANNOT_PARSE_QUOTED_STRING", DataError},
	27:  {"CANNOT_PARSE_INPUT_ASSERTION_FAILED", DataError},
	38:  {"CANNOT_PARSE_DATE", DataError},
	41:  {"CANNOT_PARSE_DATETIME", DataError},
	53:  {"TYPE_MISMATCH", DataError},
	69:  {"ARGUMENT_OUT_OF_BOUND", DataError},
	70:  {"CANNOT_CONVERT_TYPE", DataError},
	72:  {"CANNOT_PARSE_NUMBER", DataError},
	117: {"INCORRECT_DATA", DataError},
	130: {"CANNOT_READ_ARRAY_FROM_TEXT", DataError},
	131: {"TOO_LARGE_STRING_SIZE", DataError},
	248: {"INVALID_PARTITION_VALUE", DataError},
	321: {"VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE", DataError},
	349: {"CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN", DataError},
	376: {"CANNOT_PARSE_UUID", DataError},
	407: {"DECIMAL_OVERFLOW", DataError},
	441: {"CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING", DataError},
	467: {"CANNOT_PARSE_BOOL", DataError},
	469: {"VIOLATED_CONSTRAINT", DataError},
}

// tooManyPartitions is the message of TOO_MANY_PARTS (252) when one insert
// spans more partitions than max_partitions_per_insert_block allows: the
// same insert fails again however long the sink waits.
const tooManyPartitions = "Too many partitions for single INSERT block"

// codeName returns the name of a code in the table, or "".
func codeName(code int) string { return codes[code].name }

// Classify returns the class of a server's error answer: the table's class
// for a known code, else the class of the HTTP status.
func Classify(e *ServerError) Class {
	if info, ok := codes[e.Code]; ok {
		if e.Code == 252 && strings.Contains(e.Message, tooManyPartitions) {
			return Permanent
		}
		return info.class
	}
	if e.Status == http.StatusOK || httpclient.IsTransientStatus(e.Status) {
		return Transient
	}
	return Permanent
}
