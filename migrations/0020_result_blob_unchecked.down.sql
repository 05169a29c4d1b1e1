alter table runs add constraint runs_result_blob_id_fkey foreign key (result_blob_id) references blobs (id);
