drop index runs_user_done;
