package rdsexport

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	rdstypes "github.com/aws/aws-sdk-go-v2/service/rds/types"
	"github.com/google/uuid"

	"github.com/snaplake/snaplake/events"
)

// The metadata files follow the field names public parsers of real exports
// read; AWS does not document them.

// ExportInfo is export_info_<export-id>.json.
type ExportInfo struct {
	ExportTaskIdentifier  string   `json:"exportTaskIdentifier"`
	SourceArn             string   `json:"sourceArn"`
	ExportOnly            []string `json:"exportOnly"`
	SnapshotTime          string   `json:"snapshotTime"`
	TaskStartTime         string   `json:"taskStartTime"`
	TaskEndTime           string   `json:"taskEndTime"`
	S3Bucket              string   `json:"s3Bucket"`
	S3Prefix              string   `json:"s3Prefix"`
	ExportedFilesPath     string   `json:"exportedFilesPath"`
	IamRoleArn            string   `json:"iamRoleArn"`
	KmsKeyID              string   `json:"kmsKeyId"`
	Status                string   `json:"status"`
	PercentProgress       int32    `json:"percentProgress"`
	TotalExportedDataInGB float64  `json:"totalExportedDataInGB"`
}

// TableStatusComplete is the perTableStatus status of a table exported whole, the
// one value public parsers of real exports rely on. AWS documents neither this field
// nor the values it takes for a table it skipped or failed (its guide only says such
// tables "are skipped" or "the export fails"); see TableOutcome to produce them.
const TableStatusComplete = "COMPLETE"

// TablesInfo is export_tables_info_<export-id>_from_<n>_to_<m>.json.
type TablesInfo struct {
	PerTableStatus []TableStatus `json:"perTableStatus"`
}

// TableStatus reports one exported table.
type TableStatus struct {
	// Target is "db.table"; public parsers also met entries naming a database alone
	// that carry only a warningMessage.
	Target          string          `json:"target"`
	Status          string          `json:"status"`
	WarningMessage  string          `json:"warningMessage,omitempty"`
	SizeGB          float64         `json:"sizeGB"`
	TableStatistics TableStatistics `json:"tableStatistics"`
	SchemaMetadata  SchemaMetadata  `json:"schemaMetadata"`
}

// TableStatistics counts what was extracted.
type TableStatistics struct {
	ExtractedRows       int64            `json:"extractedRows"`
	ExtractedFilesCount int              `json:"extractedFilesCount"`
	ExtractedBytes      int64            `json:"extractedBytes"`
	ExtractionStartTime string           `json:"extractionStartTime"`
	ExtractionEndTime   string           `json:"extractionEndTime"`
	PartitioningInfo    PartitioningInfo `json:"partitioningInfo"`
}

// PartitioningInfo counts the table's part files.
type PartitioningInfo struct {
	NumberOfPartitions          int `json:"numberOfPartitions"`
	NumberOfCompletedPartitions int `json:"numberOfCompletedPartitions"`
}

// SchemaMetadata lists how each column was typed.
type SchemaMetadata struct {
	OriginalTypeMappings []TypeMapping `json:"originalTypeMappings"`
}

// TypeMapping is one column: its MySQL type and its Parquet type.
type TypeMapping struct {
	ColumnName                string `json:"columnName"`
	OriginalType              string `json:"originalType"`
	ExpectedExportedType      string `json:"expectedExportedType"`
	OriginalCharMaxLength     int64  `json:"originalCharMaxLength"`
	OriginalNumPrecision      int    `json:"originalNumPrecision"`
	OriginalDateTimePrecision int    `json:"originalDateTimePrecision"`
}

const isoMillis = "2006-01-02T15:04:05.000Z"

func isoTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(isoMillis)
}

func exportInfo(t rdstypes.ExportTask, bytes int64) ExportInfo {
	only := t.ExportOnly
	if only == nil {
		only = []string{}
	}
	return ExportInfo{
		ExportTaskIdentifier:  aws.ToString(t.ExportTaskIdentifier),
		SourceArn:             aws.ToString(t.SourceArn),
		ExportOnly:            only,
		SnapshotTime:          isoTime(t.SnapshotTime),
		TaskStartTime:         isoTime(t.TaskStartTime),
		TaskEndTime:           isoTime(t.TaskEndTime),
		S3Bucket:              aws.ToString(t.S3Bucket),
		S3Prefix:              aws.ToString(t.S3Prefix),
		ExportedFilesPath:     exportRoot(t),
		IamRoleArn:            aws.ToString(t.IamRoleArn),
		KmsKeyID:              aws.ToString(t.KmsKeyId),
		Status:                aws.ToString(t.Status),
		PercentProgress:       aws.ToInt32(t.PercentProgress),
		TotalExportedDataInGB: float64(bytes) / (1 << 30),
	}
}

func tablesInfo(outcomes []tableOutcome) TablesInfo {
	ti := TablesInfo{PerTableStatus: make([]TableStatus, 0, len(outcomes))}
	for _, o := range outcomes {
		st := TableStatus{
			Target: o.table.target(),
			Status: TableStatusComplete,
			SizeGB: float64(o.result.Bytes) / (1 << 30),
			TableStatistics: TableStatistics{
				ExtractedRows:       o.result.Rows,
				ExtractedFilesCount: o.result.Files,
				ExtractedBytes:      o.result.Bytes,
				ExtractionStartTime: isoTime(&o.start),
				ExtractionEndTime:   isoTime(&o.end),
				PartitioningInfo:    PartitioningInfo{NumberOfPartitions: o.result.Files, NumberOfCompletedPartitions: o.result.Files},
			},
			SchemaMetadata: SchemaMetadata{OriginalTypeMappings: make([]TypeMapping, 0, len(o.result.Columns))},
		}
		for _, c := range o.result.Columns {
			st.SchemaMetadata.OriginalTypeMappings = append(st.SchemaMetadata.OriginalTypeMappings, TypeMapping{
				ColumnName:                c.Name,
				OriginalType:              c.DataType,
				ExpectedExportedType:      c.ParquetType,
				OriginalCharMaxLength:     c.CharMaxLength,
				OriginalNumPrecision:      c.Precision,
				OriginalDateTimePrecision: c.DateTimePrecision,
			})
		}
		ti.PerTableStatus = append(ti.PerTableStatus, st)
	}
	return ti
}

// Event is an EventBridge event as RDS sends it.
type Event = events.Event[EventDetail]

// EventDetail is the detail of an "RDS DB Snapshot Event": the type the pipeline's
// own functions decode, so the stand-in cannot drift from what they read.
type EventDetail = events.RDSSnapshotDetail

// snapshotEvent names the snapshot, not the export task: RDS export events
// do, and consumers must correlate by snapshot.
func snapshotEvent(account, region string, snap Snapshot, eventID, message string, at time.Time) Event {
	return events.NewRDSSnapshotEvent(uuid.NewString(), account, region, at, EventDetail{
		EventCategories:  []string{"notification"},
		SourceArn:        snap.Arn,
		SourceIdentifier: snap.ID,
		Message:          message,
		EventID:          eventID,
	})
}
