// This directory holds npm tools, not Go code: a module of its own keeps ./... out of node_modules.
module github.com/snaplake/snaplake/tools

go 1.26
