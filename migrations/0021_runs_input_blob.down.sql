drop index runs_input_blob;
