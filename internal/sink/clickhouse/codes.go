package clickhouse

import (
	"net/http"
	"strings"

	"github.com/drover-dev/drover/internal/sink/retry"
)

// Class is what a failed insert means for its events, by drover's
// delivery policy (docs/delivery.md).
type Class uint8

const (
	// Transient: the same insert may be accepted later: the server is
	// overloaded or its replication in trouble, or the failure is not the
	// data's fault (authentication, access rights, an unknown table or
	// database, a setting the server refuses). It is sent again after a
	// backoff until it succeeds; the reason says why it waits.
	Transient Class = iota + 1
	// Split: the insert as a whole is refused for its size or shape (HTTP
	// 413 from a proxy, more partitions than one insert may touch, a 400
	// naming no row): it is sent again in halves, down to single events.
	Split
	// DataError: a row does not fit the table (a value of the wrong type,
	// unparsable text). When the server names the row ("(at row N)"), that
	// event is rejected and the others are sent again; otherwise the insert
	// is split to find the rows at fault. A single event refused so is
	// rejected with the code's name as the reason ("cannot_parse_text").
	DataError
)

// String names the class for logs.
func (c Class) String() string {
	switch c {
	case Transient:
		return "transient"
	case Split:
		return "split"
	case DataError:
		return "data error"
	}
	return "unknown"
}

type codeInfo struct {
	name   string
	class  Class
	reason string // the reason of a transient code
}

// codes is the table of the ClickHouse error codes the sink knows. It is
// documented, row by row, in docs/components/sink-clickhouse.md (a test
// keeps both in step). A code that is not here is classified by the HTTP
// status of the answer: 408, 429 and 5xx are transient, others permanent.
var codes = map[int]codeInfo{
	// Transient: overload, limits that reset, replication and network
	// trouble.
	159:  {"TIMEOUT_EXCEEDED", Transient, retry.ReasonTimeout},
	160:  {"TOO_SLOW", Transient, retry.ReasonServerError},
	173:  {"CANNOT_ALLOCATE_MEMORY", Transient, retry.ReasonServerError},
	201:  {"QUOTA_EXPIRED", Transient, retry.ReasonThrottled},
	202:  {"TOO_MANY_SIMULTANEOUS_QUERIES", Transient, retry.ReasonThrottled},
	203:  {"NO_FREE_CONNECTION", Transient, retry.ReasonThrottled},
	209:  {"SOCKET_TIMEOUT", Transient, retry.ReasonTimeout},
	210:  {"NETWORK_ERROR", Transient, retry.ReasonServerError},
	218:  {"TABLE_IS_DROPPED", Transient, retry.ReasonServerError},
	225:  {"NO_ZOOKEEPER", Transient, retry.ReasonServerError},
	236:  {"ABORTED", Transient, retry.ReasonServerError},
	241:  {"MEMORY_LIMIT_EXCEEDED", Transient, retry.ReasonServerError},
	242:  {"TABLE_IS_READ_ONLY", Transient, retry.ReasonServerError},
	243:  {"NOT_ENOUGH_SPACE", Transient, retry.ReasonServerError},
	244:  {"UNEXPECTED_ZOOKEEPER_ERROR", Transient, retry.ReasonServerError},
	252:  {"TOO_MANY_PARTS", Transient, retry.ReasonThrottled},
	254:  {"NO_ACTIVE_REPLICAS", Transient, retry.ReasonServerError},
	265:  {"NO_AVAILABLE_REPLICA", Transient, retry.ReasonServerError},
	279:  {"ALL_CONNECTION_TRIES_FAILED", Transient, retry.ReasonServerError},
	285:  {"TOO_FEW_LIVE_REPLICAS", Transient, retry.ReasonServerError},
	286:  {"UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE", Transient, retry.ReasonServerError},
	289:  {"REPLICA_IS_NOT_IN_QUORUM", Transient, retry.ReasonServerError},
	319:  {"UNKNOWN_STATUS_OF_INSERT", Transient, retry.ReasonServerError},
	364:  {"RECEIVED_ERROR_TOO_MANY_REQUESTS", Transient, retry.ReasonThrottled},
	384:  {"PART_IS_TEMPORARILY_LOCKED", Transient, retry.ReasonServerError},
	394:  {"QUERY_WAS_CANCELLED", Transient, retry.ReasonServerError},
	415:  {"ALL_REPLICAS_LOST", Transient, retry.ReasonServerError},
	425:  {"SYSTEM_ERROR", Transient, retry.ReasonServerError},
	439:  {"CANNOT_SCHEDULE_TASK", Transient, retry.ReasonThrottled},
	473:  {"DEADLOCK_AVOIDED", Transient, retry.ReasonServerError},
	999:  {"KEEPER_EXCEPTION", Transient, retry.ReasonServerError},
	1000: {"POCO_EXCEPTION", Transient, retry.ReasonServerError},

	// Not the data's fault: the statement, the table, the settings or the
	// user is wrong. The events wait until it is fixed.
	8:   {"THERE_IS_NO_COLUMN", Transient, retry.ReasonMisconfigure},
	10:  {"NOT_FOUND_COLUMN_IN_BLOCK", Transient, retry.ReasonMisconfigure},
	16:  {"NO_SUCH_COLUMN_IN_TABLE", Transient, retry.ReasonMisconfigure},
	20:  {"NUMBER_OF_COLUMNS_DOESNT_MATCH", Transient, retry.ReasonMisconfigure},
	36:  {"BAD_ARGUMENTS", Transient, retry.ReasonMisconfigure},
	44:  {"ILLEGAL_COLUMN", Transient, retry.ReasonMisconfigure},
	46:  {"UNKNOWN_FUNCTION", Transient, retry.ReasonMisconfigure},
	47:  {"UNKNOWN_IDENTIFIER", Transient, retry.ReasonMisconfigure},
	48:  {"NOT_IMPLEMENTED", Transient, retry.ReasonMisconfigure},
	60:  {"UNKNOWN_TABLE", Transient, retry.ReasonNotFound},
	62:  {"SYNTAX_ERROR", Transient, retry.ReasonMisconfigure},
	73:  {"UNKNOWN_FORMAT", Transient, retry.ReasonMisconfigure},
	81:  {"UNKNOWN_DATABASE", Transient, retry.ReasonNotFound},
	85:  {"FORMAT_IS_NOT_SUITABLE_FOR_INPUT", Transient, retry.ReasonMisconfigure},
	89:  {"UNKNOWN_COMPRESSION_METHOD", Transient, retry.ReasonMisconfigure},
	115: {"UNKNOWN_SETTING", Transient, retry.ReasonMisconfigure},
	164: {"READONLY", Transient, retry.ReasonForbidden},
	192: {"UNKNOWN_USER", Transient, retry.ReasonUnauthorized},
	193: {"WRONG_PASSWORD", Transient, retry.ReasonUnauthorized},
	194: {"REQUIRED_PASSWORD", Transient, retry.ReasonUnauthorized},
	195: {"IP_ADDRESS_NOT_ALLOWED", Transient, retry.ReasonForbidden},
	291: {"DATABASE_ACCESS_DENIED", Transient, retry.ReasonForbidden},
	452: {"SETTING_CONSTRAINT_VIOLATION", Transient, retry.ReasonMisconfigure},
	471: {"INVALID_SETTING_VALUE", Transient, retry.ReasonMisconfigure},
	472: {"READONLY_SETTING", Transient, retry.ReasonMisconfigure},
	497: {"ACCESS_DENIED", Transient, retry.ReasonForbidden},
	516: {"AUTHENTICATION_FAILED", Transient, retry.ReasonUnauthorized},

	// Data errors: one row does not fit the table.
	6:   {"CANNOT_PARSE_TEXT", DataError, ""},
	25:  {"CANNOT_PARSE_ESCAPE_SEQUENCE", DataError, ""},
	26:  {"CANNOT_PARSE_QUOTED_STRING", DataError, ""},
	27:  {"CANNOT_PARSE_INPUT_ASSERTION_FAILED", DataError, ""},
	38:  {"CANNOT_PARSE_DATE", DataError, ""},
	41:  {"CANNOT_PARSE_DATETIME", DataError, ""},
	53:  {"TYPE_MISMATCH", DataError, ""},
	69:  {"ARGUMENT_OUT_OF_BOUND", DataError, ""},
	70:  {"CANNOT_CONVERT_TYPE", DataError, ""},
	72:  {"CANNOT_PARSE_NUMBER", DataError, ""},
	117: {"INCORRECT_DATA", DataError, ""},
	130: {"CANNOT_READ_ARRAY_FROM_TEXT", DataError, ""},
	131: {"TOO_LARGE_STRING_SIZE", DataError, ""},
	248: {"INVALID_PARTITION_VALUE", DataError, ""},
	321: {"VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE", DataError, ""},
	349: {"CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN", DataError, ""},
	376: {"CANNOT_PARSE_UUID", DataError, ""},
	407: {"DECIMAL_OVERFLOW", DataError, ""},
	441: {"CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING", DataError, ""},
	467: {"CANNOT_PARSE_BOOL", DataError, ""},
	469: {"VIOLATED_CONSTRAINT", DataError, ""},
}

// tooManyPartitions is the message of TOO_MANY_PARTS (252) when one insert
// spans more partitions than max_partitions_per_insert_block allows: the
// same insert fails again however long the sink waits, and its halves
// span fewer partitions.
const tooManyPartitions = "Too many partitions for single INSERT block"

// codeName returns the name of a code in the table, or "".
func codeName(code int) string { return codes[code].name }

// Classify returns the class of a server's error answer and its reason:
// the table's for a known code (a data error's reason is its name in lower
// case), else the class of the HTTP status by the policy of
// retry.HTTPStatus (a 400 or 413 splits the insert, any other status is
// transient).
func Classify(e *ServerError) (Class, string) {
	if info, ok := codes[e.Code]; ok {
		switch {
		case e.Code == 252 && strings.Contains(e.Message, tooManyPartitions):
			return Split, "too_many_partitions"
		case info.class == DataError:
			return DataError, strings.ToLower(info.name)
		}
		return info.class, info.reason
	}
	if e.Status == http.StatusOK {
		return Transient, retry.ReasonServerError
	}
	c, reason := retry.HTTPStatus(e.Status)
	if c == retry.ClassSplit {
		return Split, reason
	}
	return Transient, reason
}
